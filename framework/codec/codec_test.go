package codec

import (
	"bytes"
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
)

// TestCompactIsJSONCompact: compact leaves JSON as json.Compact does,
// whitespace inside strings and escaped quotes included, and MarshalJSON's
// output has no whitespace outside strings.
func TestCompactIsJSONCompact(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"a": 1, "b": [1, 2, {"c" : "x y"}],	"d":"\" , \\", "e": "\\\" }"}`,
		"{\n  \"k\": \"v\\n\\t \",\r\n  \"n\": null, \"t\": true\n}",
		`[ "a, b", " ", "\u0020" ]`,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if got := compact([]byte(in)); string(got) != want.String() {
			t.Fatalf("compact(%q) = %q, json.Compact says %q", in, got, want.String())
		}
	}
	msg, err := structpb.NewStruct(map[string]any{"a b": "c, d", "e": []any{1.5, "f \" g", true}, "h": map[string]any{"i": nil}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalJSON(msg)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	json.Compact(&want, out)
	if string(out) != want.String() {
		t.Fatalf("MarshalJSON wrote %s, not compact", out)
	}
}
