package gateway

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// maxQueryDepth bounds how deeply a query key may nest (a[b][c]...). Deeper
// requests are rejected rather than built, as no proto message nests that far
// and unbounded nesting only costs memory.
const maxQueryDepth = 32

// DecodeQuery turns a raw query string into a JSON object, following the
// qson rules Micro's gateway used:
//
//	a=1&b=true&c=x   -> {"a":1,"b":true,"c":"x"}   values parse as JSON first, else are strings
//	a[b][c]=2        -> {"a":{"b":{"c":2}}}
//	a[]=1&a[]=2      -> {"a":[1,2]}
//	a.b=1            -> {"a":{"b":1}}                dots nest outside brackets
//	m[x.y]=1         -> {"m":{"x.y":1}}              and are literal inside them
//
// A repeated key keeps its last value, and a later key that needs an object
// or array where an earlier one left a plain value replaces it. Empty
// parameters and empty keys are skipped. Numbers keep their exact digits
// (json.Number), so an int64 survives the trip. A malformed key or escape is
// an error whose text is the detail of a 400.
func DecodeQuery(raw string) (map[string]any, error) {
	out := map[string]any{}
	for param := range strings.SplitSeq(raw, "&") {
		if param == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(param, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, badRequest("invalid query key %q: %v", rawKey, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, badRequest("invalid query value for %q: %v", key, err)
		}
		if key == "" {
			continue
		}
		path, err := parseQueryKey(key)
		if err != nil {
			return nil, err
		}
		set(out, path, queryValue(value))
	}
	return out, nil
}

// queryValue reads a query value as JSON when all of it is JSON (numbers,
// booleans, null, quoted strings, arrays, objects) and as a plain string
// otherwise.
func queryValue(s string) any {
	if !json.Valid([]byte(s)) {
		return s
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	return v
}

// parseQueryKey splits "a.b[c][]" into ["a" "b" "c" ""]; "" means append
// to an array and may only come last.
func parseQueryKey(key string) ([]string, error) {
	name, rest, hasBrackets := strings.Cut(key, "[")
	if strings.Contains(name, "]") {
		return nil, badRequest("invalid query key %q: unexpected ]", key)
	}
	var path []string
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return nil, badRequest("invalid query key %q: empty name", key)
		}
		path = append(path, label)
	}
	if hasBrackets {
		rest = "[" + rest
	}
	for rest != "" {
		if rest[0] != '[' {
			return nil, badRequest("invalid query key %q: expected [ after ]", key)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, badRequest("invalid query key %q: missing ]", key)
		}
		seg := rest[1:end]
		if strings.Contains(seg, "[") {
			return nil, badRequest("invalid query key %q: [ inside []", key)
		}
		path = append(path, seg)
		rest = rest[end+1:]
	}
	for i, seg := range path {
		if seg == "" && i != len(path)-1 {
			return nil, badRequest("invalid query key %q: [] may only come last", key)
		}
	}
	if len(path) > maxQueryDepth {
		return nil, badRequest("invalid query key %q: nested deeper than %d", key, maxQueryDepth)
	}
	return path, nil
}

// set stores v at path in obj, creating objects on the way and replacing
// plain values that stand where an object is needed.
func set(obj map[string]any, path []string, v any) {
	for i, seg := range path {
		last := i == len(path)-1
		if last {
			obj[seg] = v
			return
		}
		if path[i+1] == "" { // seg[] = v
			arr, _ := obj[seg].([]any)
			obj[seg] = append(arr, v)
			return
		}
		next, ok := obj[seg].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[seg] = next
		}
		obj = next
	}
}

// mergeUnder merges base under top: top's keys win, and objects present in
// both are merged key by key, as a JSON merge patch of top onto base would,
// except that a null in top is kept (protojson reads it as "unset") rather
// than deleting the key.
func mergeUnder(base, top map[string]any) map[string]any {
	for k, tv := range top {
		bm, bok := base[k].(map[string]any)
		tm, tok := tv.(map[string]any)
		if bok && tok {
			base[k] = mergeUnder(bm, tm)
			continue
		}
		base[k] = tv
	}
	return base
}

// encodeJSON writes v compactly without HTML escaping, so strings reach the
// service byte for byte as the client wrote them.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
