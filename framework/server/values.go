package server

import (
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	regpb "micro.dev/micro/proto/registry"
)

// MaxValueDepth bounds how deep ValueOf describes nested messages, as Micro
// did; deeper fields (and recursive types) are described by type only.
const MaxValueDepth = 6

var protoMessage = reflect.TypeFor[proto.Message]()

// ValueOf describes the shape of a request or response type for the
// registry: its fields by JSON name and Go type name, recursively, so the
// CLI can build flags and the dashboard forms. Proto messages are described
// from their descriptors (proto field names, as their JSON carries them);
// plain structs by reflection (json tag names, else the field name, as
// encoding/json does; "-" and unexported fields skipped). nil for nil.
func ValueOf(t reflect.Type) *regpb.Value {
	if t == nil {
		return nil
	}
	if t.Implements(protoMessage) {
		m := reflect.New(t.Elem()).Interface().(proto.Message)
		return ProtoValue(m.ProtoReflect().Descriptor())
	}
	base := deref(t)
	v := &regpb.Value{Name: base.Name(), Type: typeName(t)}
	if base.Kind() == reflect.Struct {
		v.Values = structValues(base, 1)
	}
	return v
}

// ProtoValue describes a proto message from its descriptor.
func ProtoValue(md protoreflect.MessageDescriptor) *regpb.Value {
	return &regpb.Value{Name: string(md.Name()), Type: string(md.Name()), Values: protoFields(md, 1)}
}

func protoFields(md protoreflect.MessageDescriptor, depth int) []*regpb.Value {
	fields := md.Fields()
	out := make([]*regpb.Value, 0, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		v := &regpb.Value{Name: string(f.Name()), Type: protoType(f)}
		if f.Kind() == protoreflect.MessageKind && !f.IsMap() && depth < MaxValueDepth && !wellKnown(f.Message()) {
			v.Values = protoFields(f.Message(), depth+1)
		}
		out = append(out, v)
	}
	return out
}

// wellKnown reports google.protobuf types, whose JSON is a scalar or free
// form (Timestamp is a string, Struct any object) rather than their fields.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

// protoType names a field's type as a Go programmer would write it.
func protoType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return "map[" + protoKind(f.MapKey()) + "]" + protoKind(f.MapValue())
	}
	t := protoKind(f)
	if f.IsList() {
		return "[]" + t
	}
	return t
}

func protoKind(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.BoolKind:
		return "bool"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "int32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "int64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "uint32"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "uint64"
	case protoreflect.FloatKind:
		return "float32"
	case protoreflect.DoubleKind:
		return "float64"
	case protoreflect.StringKind:
		return "string"
	case protoreflect.BytesKind:
		return "[]byte"
	case protoreflect.EnumKind:
		// Enums travel as their names in JSON.
		return "string"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(f.Message().Name())
	}
	return f.Kind().String()
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// typeName is Micro's name for a Go type: the type's own name, []T for
// slices, map[K]V for maps.
func typeName(t reflect.Type) string {
	t = deref(t)
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "[]byte"
		}
		return "[]" + typeName(t.Elem())
	case reflect.Map:
		return "map[" + typeName(t.Key()) + "]" + typeName(t.Elem())
	case reflect.Interface:
		return "any"
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.Kind().String()
}

func structValues(t reflect.Type, depth int) []*regpb.Value {
	var out []*regpb.Value
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		ft := f.Type
		v := &regpb.Value{Name: name, Type: typeName(ft)}
		if inner := deref(ft); depth < MaxValueDepth {
			switch {
			case ft.Implements(protoMessage) || reflect.PointerTo(inner).Implements(protoMessage):
				m := reflect.New(inner).Interface().(proto.Message)
				if md := m.ProtoReflect().Descriptor(); !wellKnown(md) {
					v.Values = protoFields(md, depth+1)
				}
			case inner.Kind() == reflect.Struct && inner.PkgPath() != "time":
				v.Values = structValues(inner, depth+1)
			}
		}
		out = append(out, v)
	}
	return out
}
