package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// emptyObject is the stored value of a path set to {} with nothing under it.
const emptyObject = "{}"

// splitPath splits a dotted path into its keys; the empty path (the whole
// tree) has none. Empty keys ("a..b", ".a", "a.") are refused: no JSON tree
// this block builds can hold them.
func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if len(path) > MaxPathSize {
		return nil, fmt.Errorf("path is %d bytes; the limit is %d", len(path), MaxPathSize)
	}
	keys := strings.Split(path, ".")
	for _, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("path %q has an empty key; write keys separated by single dots, e.g. helloworld.db.host", path)
		}
	}
	return keys, nil
}

// join appends key to the dotted path base.
func join(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// ancestors returns the strict ancestors of a non-empty path, nearest last:
// "a.b.c" has "a" and "a.b".
func ancestors(path string) []string {
	var out []string
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			out = append(out, path[:i])
		}
	}
	return out
}

// under returns the half-open key range [lo, hi) holding every path strictly
// below path: "a.b" has "a.b.x" but not "a.bc". '/' is the byte after '.'.
func under(path string) (lo, hi string) {
	return path + ".", path + "/"
}

// overlaps reports whether a change at path a can change the value at path
// b: one is the other or below it.
func overlaps(a, b string) bool {
	return a == b || a == "" || b == "" || strings.HasPrefix(b, a+".") || strings.HasPrefix(a, b+".")
}

// leafValue is one leaf of a value being set: its path and JSON text.
type leafValue struct {
	path string
	json string
}

// flatten parses data as JSON and returns the leaves it sets at path: an
// object is merged key by key (merge is true), anything else replaces the
// path (merge is false). An empty object yields one leaf, "{}", at path.
func flatten(path, data string) (leaves []leafValue, merge bool, err error) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, fmt.Errorf("value is not valid JSON: %v (a string must be quoted: '\"text\"')", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, fmt.Errorf("value is not valid JSON: text after the value")
	}
	obj, merge := v.(map[string]any)
	if merge && len(obj) == 0 {
		return []leafValue{{path: path, json: emptyObject}}, true, nil
	}
	if err := walk(path, v, &leaves); err != nil {
		return nil, false, err
	}
	if len(leaves) > MaxLeaves {
		return nil, false, fmt.Errorf("value has %d leaves; the limit is %d", len(leaves), MaxLeaves)
	}
	return leaves, merge, nil
}

func walk(path string, v any, out *[]leafValue) error {
	obj, ok := v.(map[string]any)
	if !ok {
		b, err := encode(v)
		if err != nil {
			return err
		}
		*out = append(*out, leafValue{path: path, json: string(b)})
		return nil
	}
	if len(obj) == 0 {
		*out = append(*out, leafValue{path: path, json: emptyObject})
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.Contains(k, ".") {
			return fmt.Errorf("key %q in the value cannot be addressed by a dotted path; keys must be non-empty and contain no dots", k)
		}
		p := join(path, k)
		if len(p) > MaxPathSize {
			return fmt.Errorf("path %q... is longer than %d bytes", p[:64], MaxPathSize)
		}
		if err := walk(p, obj[k], out); err != nil {
			return err
		}
	}
	return nil
}

// encode writes v as compact JSON without HTML escaping, so a value reads
// back as it was written.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// build rebuilds the JSON value at base from the leaves at or under it,
// each leaf's JSON given by text. No leaves is "null".
func build(base string, leaves []Leaf, text func(Leaf) (string, error)) (string, error) {
	if len(leaves) == 0 {
		return "null", nil
	}
	root := map[string]any{}
	for _, l := range leaves {
		v, err := text(l)
		if err != nil {
			return "", err
		}
		if l.Path == base {
			if len(leaves) == 1 {
				return v, nil
			}
			continue // an empty-object marker beside real children
		}
		rel := l.Path
		if base != "" {
			rel = strings.TrimPrefix(l.Path, base+".")
		}
		node := root
		keys := strings.Split(rel, ".")
		for _, k := range keys[:len(keys)-1] {
			child, ok := node[k].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[k] = child
			}
			node = child
		}
		last := keys[len(keys)-1]
		if _, isObj := node[last].(map[string]any); isObj && v == emptyObject {
			continue
		}
		node[last] = json.RawMessage(v)
	}
	b, err := encode(root)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
