package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzTreeRoundTrip: whatever value is set at a path, flattening it into
// leaves and rebuilding it gives the same JSON value back (or the value is
// refused with an error, never a panic).
func FuzzTreeRoundTrip(f *testing.F) {
	for _, seed := range []struct{ path, data string }{
		{"helloworld", `{"greeting":"Hi","db":{"host":"localhost","port":5432}}`},
		{"a.b", `[1,{"x":null},"s"]`},
		{"n", `12345678901234567890.5e-3`},
		{"e", `{"a":{},"b":{"c":{}}}`},
		{"s", `"\u00e9 <b> \n"`},
		{"d", `{"a.b":1}`},
		{"x", `{"a":1,"a":2}`},
		{"..", `1`},
	} {
		f.Add(seed.path, seed.data)
	}
	f.Fuzz(func(t *testing.T, path, data string) {
		if path == "" {
			return // Set refuses it before flattening
		}
		if _, err := splitPath(path); err != nil {
			return
		}
		values, _, err := flatten(path, data)
		if err != nil {
			return
		}
		leaves := make([]Leaf, len(values))
		for i, v := range values {
			leaves[i] = Leaf{Path: v.path, Value: v.json}
		}
		got, err := build(path, leaves, func(l Leaf) (string, error) { return l.Value, nil })
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		if !sameJSON(t, got, data) {
			t.Fatalf("set %s = %s read back as %s", path, data, got)
		}
	})
}

func sameJSON(t *testing.T, a, b string) bool {
	decode := func(s string) any {
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decoding %s: %v", s, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}
