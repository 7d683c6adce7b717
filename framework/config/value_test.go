package config

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestValueAccessors(t *testing.T) {
	var null JSONValue
	if null.Exists() || null.String("d") != "d" || null.Int(7) != 7 || !null.Bool(true) || null.JSON() != "null" {
		t.Fatalf("null value: %+v", null)
	}
	if v := NewValue([]byte(" null ")); v.Exists() {
		t.Fatal("null text exists")
	}
	for _, tc := range []struct {
		data  string
		check func(Value) bool
	}{
		{`"Hi"`, func(v Value) bool { return v.String("") == "Hi" && string(v.Bytes()) == "Hi" && v.Int(-1) == -1 }},
		{`true`, func(v Value) bool { return v.Bool(false) && v.String("d") == "d" }},
		{`"true"`, func(v Value) bool { return v.Bool(false) }},
		{`"nope"`, func(v Value) bool { return v.Bool(true) && !v.Bool(false) }},
		{`42`, func(v Value) bool { return v.Int(0) == 42 && v.Float64(0) == 42 && string(v.Bytes()) == "42" }},
		{`"42"`, func(v Value) bool { return v.Int(0) == 42 }},
		{`4.5`, func(v Value) bool { return v.Float64(0) == 4.5 && v.Int(-1) == -1 }},
		{`"4.5"`, func(v Value) bool { return v.Float64(0) == 4.5 }},
		{`"1m30s"`, func(v Value) bool { return v.Duration(0) == 90*time.Second }},
		{`"soon"`, func(v Value) bool { return v.Duration(time.Hour) == time.Hour }},
		{`1000000`, func(v Value) bool { return v.Duration(0) == time.Millisecond }},
		{`["a", 2, {"b":1}]`, func(v Value) bool {
			return slices.Equal(v.StringSlice(nil), []string{"a", "2", `{"b":1}`})
		}},
		{`"a"`, func(v Value) bool { return v.StringSlice([]string{"d"})[0] == "d" && v.StringMap(nil) == nil }},
		{`{"host":"db","port":5432}`, func(v Value) bool {
			m := v.StringMap(nil)
			return len(m) == 2 && m["host"] == "db" && m["port"] == "5432"
		}},
	} {
		if v := NewValue([]byte(tc.data)); !v.Exists() || !tc.check(v) {
			t.Errorf("value %s: accessor mismatch", tc.data)
		}
	}

	var db struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	v := NewValue([]byte(`{"host":"db","port":5432}`))
	if err := v.Scan(&db); err != nil || db.Host != "db" || db.Port != 5432 {
		t.Fatalf("scan: %+v %v", db, err)
	}
	var n int
	if err := v.Scan(&n); err == nil {
		t.Fatal("scanning an object into an int must fail")
	}
	n = 3
	if err := (JSONValue{}).Scan(&n); err != nil || n != 3 {
		t.Fatalf("scanning null changes nothing: %d %v", n, err)
	}

	// A Value encodes as its JSON and decodes from it.
	b, err := json.Marshal(map[string]Value{"v": v, "n": NewValue(nil)})
	if err != nil || string(b) != `{"n":null,"v":{"host":"db","port":5432}}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back map[string]JSONValue
	if err := json.Unmarshal(b, &back); err != nil || !back["v"].Equal(v) || back["n"].Exists() {
		t.Fatalf("unmarshal: %v %v", back, err)
	}
}

// Micro's forms compile and behave: Get's Value compares with nil and is
// never nil, even for a missing path.
func TestValueIsMicros(t *testing.T) {
	var v Value = NewValue(nil)
	if v == nil || v.Exists() || v.String("def") != "def" || string(v.Bytes()) != "null" {
		t.Fatalf("missing: %#v", v)
	}
	var _ Value = JSONValue{}
}
