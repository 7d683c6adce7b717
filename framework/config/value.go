package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Value is the config at a path, Micro's config.Value: JSON read through
// typed accessors that fall back to a default when the value is missing or
// of another type. Get never returns a nil Value: a missing path is one
// whose Exists is false.
type Value interface {
	Exists() bool
	Bool(def bool) bool
	Int(def int) int
	String(def string) string
	Float64(def float64) float64
	Duration(def time.Duration) time.Duration
	StringSlice(def []string) []string
	StringMap(def map[string]string) map[string]string
	Scan(dst any) error
	Bytes() []byte
	// JSON is the value's JSON text, "null" when missing.
	JSON() string
}

// JSONValue is the Value Get returns. The zero JSONValue is null
// (missing).
type JSONValue struct {
	raw json.RawMessage // nil or "null": missing
}

// NewValue returns the Value whose JSON text is data; empty data is null.
func NewValue(data []byte) Value { return NewJSONValue(data) }

// NewJSONValue returns the JSONValue whose JSON text is data; empty data
// is null.
func NewJSONValue(data []byte) *JSONValue {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return &JSONValue{}
	}
	return &JSONValue{raw: append(json.RawMessage(nil), data...)}
}

// Exists reports whether there is a value (not null).
func (v JSONValue) Exists() bool { return len(v.raw) > 0 }

// Bytes is a string's content, or any other value's JSON text ("null"
// when missing), as in Micro: a secret key or certificate set as a JSON
// string comes back as its bytes.
func (v JSONValue) Bytes() []byte {
	if s, ok := v.str(); ok {
		return []byte(s)
	}
	return []byte(v.JSON())
}

// JSON is the value's JSON text, "null" when missing.
func (v JSONValue) JSON() string {
	if !v.Exists() {
		return "null"
	}
	return string(v.raw)
}

// String returns a JSON string, or def. Numbers and bools are not strings,
// except that a missing value gives def; use Bytes for the JSON text.
func (v JSONValue) String(def string) string {
	var s string
	if v.Exists() && json.Unmarshal(v.raw, &s) == nil {
		return s
	}
	return def
}

// Bool returns a JSON bool, or a string strconv.ParseBool reads ("true"),
// else def.
func (v JSONValue) Bool(def bool) bool {
	var b bool
	if v.scan(&b) == nil {
		return b
	}
	if s, ok := v.str(); ok {
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	}
	return def
}

// Int returns a JSON integer, or a string holding one ("42"), else def.
func (v JSONValue) Int(def int) int {
	var n int
	if v.scan(&n) == nil {
		return n
	}
	if s, ok := v.str(); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

// Float64 returns a JSON number, or a string holding one ("1.5"), else def.
func (v JSONValue) Float64(def float64) float64 {
	var f float64
	if v.scan(&f) == nil {
		return f
	}
	if s, ok := v.str(); ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return def
}

// Duration returns a string in Go's syntax ("1m30s"), or an integer read as
// nanoseconds (how encoding/json writes a time.Duration), else def.
func (v JSONValue) Duration(def time.Duration) time.Duration {
	if s, ok := v.str(); ok {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
		return def
	}
	var n int64
	if v.scan(&n) == nil {
		return time.Duration(n)
	}
	return def
}

// StringSlice returns a JSON array of strings, else def. Elements that are
// not strings are written as their JSON text.
func (v JSONValue) StringSlice(def []string) []string {
	var items []json.RawMessage
	if v.scan(&items) != nil {
		return def
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = text(it)
	}
	return out
}

// StringMap returns a JSON object as strings, else def. Values that are not
// strings are written as their JSON text.
func (v JSONValue) StringMap(def map[string]string) map[string]string {
	var m map[string]json.RawMessage
	if v.scan(&m) != nil || m == nil {
		return def
	}
	out := make(map[string]string, len(m))
	for k, it := range m {
		out[k] = text(it)
	}
	return out
}

// Scan decodes the value into dst as encoding/json does. A missing value
// leaves dst as it is.
func (v JSONValue) Scan(dst any) error {
	if !v.Exists() {
		return nil
	}
	if err := json.Unmarshal(v.raw, dst); err != nil {
		return fmt.Errorf("config: scanning %s: %w", v.raw, err)
	}
	return nil
}

func (v JSONValue) scan(dst any) error {
	if !v.Exists() {
		return errMissing
	}
	return json.Unmarshal(v.raw, dst)
}

func (v JSONValue) str() (string, bool) {
	var s string
	if v.Exists() && v.raw[0] == '"' && json.Unmarshal(v.raw, &s) == nil {
		return s, true
	}
	return "", false
}

// Equal reports whether v and o hold the same JSON text.
func (v JSONValue) Equal(o Value) bool { return o != nil && v.JSON() == o.JSON() }

// text is a JSON string's content, or any other JSON value's text.
func text(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

var errMissing = fmt.Errorf("config: no value")
