package web

import (
	"reflect"
	"strings"
)

// jsonFieldPath turns the path encoding/json reports for a field of the
// wrong type (json.UnmarshalTypeError.Field) into the path the client
// wrote. encoding/json puts the Go name of an embedded struct in that path
// ("JobSpec.paths" for the "paths" of a job body, which embeds
// topics.JobSpec); a client never wrote that name, and it leaks an internal
// type. Walking v's type drops such segments and keeps every JSON name and
// map key as sent.
func jsonFieldPath(v any, path string) string {
	t := reflect.TypeOf(v)
	var out []string
	for seg := range strings.SplitSeq(path, ".") {
		t = elemType(t)
		if t != nil && t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(seg); ok && f.Anonymous && jsonName(f) == "" {
				t = f.Type // an embedded struct: its fields are the parent's in JSON
				continue
			}
			t = jsonFieldType(t, seg)
		} else if t != nil && t.Kind() == reflect.Map {
			t = t.Elem()
		} else {
			t = nil
		}
		out = append(out, seg)
	}
	return strings.Join(out, ".")
}

// elemType looks through pointers, slices and arrays to what they hold.
func elemType(t reflect.Type) reflect.Type {
	for t != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			return t
		}
	}
	return nil
}

// jsonName is a field's name in its json tag ("" when the tag names none).
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// jsonFieldType finds the type of the field called name in JSON, also
// among the fields of embedded structs, or nil.
func jsonFieldType(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		n := jsonName(f)
		if n == "-" {
			continue
		}
		if n == name || (n == "" && strings.EqualFold(f.Name, name)) {
			return f.Type
		}
	}
	return nil
}
