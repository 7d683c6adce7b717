package model

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Keys in the store table, for a model named m:
//
//	m/r/<id>                           the record (JSON)
//	m/u/<field>/<value>                a unique index entry; its value is the id
//	m/i/<field>/<value><end><id>       an index entry; its value is the id
//
// <value> is order-preserving: strings with 0x00 and 0x01 escaped and
// followed by <end> (0x01 0x01, below every escaped or plain byte), so "a"
// sorts before "a!" and the exact prefix of a value matches no other
// value; integers as fixed-width hex with the sign bit flipped; bools 0 or
// 1. So a range of keys is the index in order, and an equality lookup
// is one key (unique) or one key prefix (not a scan).
const end = "\x01\x01"

func (m *meta) recordKey(id string) string { return m.name + "/r/" + id }
func (m *meta) recordPrefix() string       { return m.name + "/r/" }

// indexPrefix is where the entries of idx start; with a value, where
// those of that value start.
func (m *meta) indexPrefix(idx Index, value string, hasValue bool) string {
	kind := "/i/"
	if idx.Unique {
		kind = "/u/"
	}
	p := m.name + kind + idx.Field + "/"
	if hasValue {
		p += value
		if !idx.Unique {
			p += end
		}
	}
	return p
}

// indexKey is the entry of a record with id whose field has value.
func (m *meta) indexKey(idx Index, value, id string) string {
	if idx.Unique {
		return m.indexPrefix(idx, value, true)
	}
	return m.indexPrefix(idx, value, true) + id
}

// encode writes an indexed field's value in its key form.
func encode(v reflect.Value) (string, error) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if strings.ContainsAny(s, "\x00\x01") {
			s = strings.NewReplacer("\x00", "\x01\x02", "\x01", "\x01\x03").Replace(s)
		}
		return s, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("%016x", uint64(v.Int())^(1<<63)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("%016x", v.Uint()), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())[:1], nil // "f" < "t"
	}
	return "", fmt.Errorf("a %s cannot be indexed: index strings, integers or bools", v.Type())
}

// indexable reports whether values of t can be indexed.
func indexable(t reflect.Type) bool {
	_, err := encode(reflect.Zero(t))
	return err == nil
}
