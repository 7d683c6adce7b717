package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	regpb "micro.dev/micro/proto/registry"
)

func isList(t string) bool { return strings.HasPrefix(t, "[]") && t != "[]byte" }
func isMap(t string) bool  { return strings.HasPrefix(t, "map[") }

// requestFromFlags builds a JSON request from --field=value flags (also
// "--field value", a bare "--flag" for a bool, repeated flags for lists),
// typed by the request's registry description. Nested fields are named by
// their path, joined by '_', '-' or '.'. Without a description, any flag is
// taken, its value as a string (JSON when it is an object or array).
func requestFromFlags(req *regpb.Value, args []string) ([]byte, error) {
	root := map[string]any{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			continue
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			return nil, fmt.Errorf("unexpected argument %q: give request fields as --flags", arg)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name == "" {
			return nil, fmt.Errorf("invalid flag %q", arg)
		}
		var path []*regpb.Value
		if req != nil && len(req.Values) > 0 {
			var ok bool
			if path, ok = resolveFlag(req.Values, fold2(name)); !ok {
				return nil, fmt.Errorf("unknown flag: %s", name)
			}
		} else {
			for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '.' }) {
				path = append(path, &regpb.Value{Name: part, Type: "any"})
			}
		}
		leaf := path[len(path)-1]
		if !hasValue {
			switch {
			case leaf.Type == "bool" && i+1 < len(args) && (args[i+1] == "true" || args[i+1] == "false"):
				value, i = args[i+1], i+1
			case leaf.Type == "bool":
				value = "true"
			case i+1 < len(args):
				value, i = args[i+1], i+1
			default:
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
		}
		if err := setField(root, path, value); err != nil {
			return nil, fmt.Errorf("invalid value for --%s: %v", name, err)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// fold2 normalizes a flag or field name for matching: lower case, '-' as
// '_' (so --options-domain, --options_domain and --Options_Domain agree).
func fold2(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }

// resolveFlag finds the field a normalized flag name names: a field by its
// own name first (names may hold '_'), else a nested one by path.
func resolveFlag(fields []*regpb.Value, name string) ([]*regpb.Value, bool) {
	for _, f := range fields {
		if fold2(f.Name) == name {
			return []*regpb.Value{f}, true
		}
	}
	for _, f := range fields {
		if len(f.Values) == 0 || isList(f.Type) || isMap(f.Type) {
			continue
		}
		p := fold2(f.Name)
		for _, sep := range []string{"_", "."} {
			if rest, ok := strings.CutPrefix(name, p+sep); ok {
				if sub, ok := resolveFlag(f.Values, rest); ok {
					return append([]*regpb.Value{f}, sub...), true
				}
			}
		}
	}
	return nil, false
}

// setField sets the value at path in root, converting it by the leaf's
// type; list fields collect repeated flags.
func setField(root map[string]any, path []*regpb.Value, raw string) error {
	obj := root
	for _, f := range path[:len(path)-1] {
		next, ok := obj[f.Name].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[f.Name] = next
		}
		obj = next
	}
	leaf := path[len(path)-1]
	switch t := leaf.Type; {
	case isList(t):
		elem := strings.TrimPrefix(t, "[]")
		list, _ := obj[leaf.Name].([]any)
		if strings.HasPrefix(strings.TrimSpace(raw), "[") {
			var vals []any
			if err := decodeJSON(raw, &vals); err != nil {
				return err
			}
			obj[leaf.Name] = append(list, vals...)
			return nil
		}
		parts := []string{raw}
		if isScalar(elem) {
			parts = strings.Split(raw, ",")
		}
		for _, p := range parts {
			v, err := convert(elem, p)
			if err != nil {
				return err
			}
			list = append(list, v)
		}
		obj[leaf.Name] = list
	case isMap(t):
		if strings.HasPrefix(strings.TrimSpace(raw), "{") {
			var m map[string]any
			if err := decodeJSON(raw, &m); err != nil {
				return err
			}
			obj[leaf.Name] = m
			return nil
		}
		m, _ := obj[leaf.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		elem := t[strings.Index(t, "]")+1:]
		for _, kv := range strings.Split(raw, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("want a JSON object or key=value pairs, got %q", raw)
			}
			cv, err := convert(elem, v)
			if err != nil {
				return err
			}
			m[k] = cv
		}
		obj[leaf.Name] = m
	default:
		v, err := convert(t, raw)
		if err != nil {
			return err
		}
		obj[leaf.Name] = v
	}
	return nil
}

func isScalar(t string) bool {
	switch t {
	case "bool", "string", "int", "int32", "int64", "uint", "uint32", "uint64", "float32", "float64":
		return true
	}
	return false
}

// convert turns a flag value into the JSON value of type t. Numbers stay
// exact (json.Number); a message type takes JSON.
func convert(t, raw string) (any, error) {
	switch t {
	case "string", "[]byte":
		return raw, nil
	case "bool":
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", raw)
		}
		return b, nil
	case "int", "int32", "int64":
		if _, err := strconv.ParseInt(raw, 10, 64); err != nil {
			return nil, fmt.Errorf("want an integer (%s), got %q", t, raw)
		}
		return json.Number(raw), nil
	case "uint", "uint32", "uint64":
		if _, err := strconv.ParseUint(raw, 10, 64); err != nil {
			return nil, fmt.Errorf("want a non-negative integer (%s), got %q", t, raw)
		}
		return json.Number(raw), nil
	case "float32", "float64":
		if _, err := strconv.ParseFloat(raw, 64); err != nil {
			return nil, fmt.Errorf("want a number (%s), got %q", t, raw)
		}
		return json.Number(raw), nil
	}
	// A message, or a type not described: JSON when it looks like JSON.
	if s := strings.TrimSpace(raw); strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		var v any
		if err := decodeJSON(s, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return raw, nil
}

func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON %q: %v", s, err)
	}
	return nil
}
