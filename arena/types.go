package arena

import (
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The pointer check runs once per type; after that a type costs one
// atomic load and a compare. Verdicts are kept in a map, and the types
// found pointer-free are also kept in a small direct-mapped cache keyed
// by the address of the type's descriptor, which the fast path reads.
var (
	verdicts sync.Map // reflect.Type -> error (nil: pointer-free)
	okCache  [256]atomic.Pointer[byte]
)

// checkType returns nil if T may live in an arena and a *PointerError
// naming the first pointer-holding element otherwise.
func checkType[T any]() error {
	if tw := typeWord[T](); !knownPointerFree(tw) {
		return checkTypeSlow(reflect.TypeFor[T](), tw)
	}
	return nil
}

// knownPointerFree reports whether the type whose *T descriptor is tw
// was found pointer-free before. Small enough to inline.
func knownPointerFree(tw unsafe.Pointer) bool {
	return unsafe.Pointer(okCache[(uintptr(tw)>>4)&255].Load()) == tw
}

// checkTypeSlow looks the verdict up, or walks t, and caches a good one.
func checkTypeSlow(t reflect.Type, tw unsafe.Pointer) error {
	slot := &okCache[(uintptr(tw)>>4)&255]
	v, ok := verdicts.Load(t)
	if !ok {
		v, _ = verdicts.LoadOrStore(t, walk(t))
	}
	err, _ := v.(error)
	if err == nil {
		slot.Store((*byte)(tw))
	}
	return err
}

// walk finds the first element of t that holds a Go pointer, at any
// depth of structs and arrays.
func walk(t reflect.Type) error {
	name := t.Name()
	if name == "" {
		name = t.String()
	}
	path, kind := find(t, name)
	if path == "" {
		return nil
	}
	return &PointerError{Type: t.String(), Path: path, Elem: kind}
}

func find(t reflect.Type, path string) (string, string) {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.String, reflect.Slice,
		reflect.Map, reflect.Interface, reflect.Chan, reflect.Func:
		return path, t.String()
	case reflect.Array:
		if t.Len() == 0 {
			return "", "" // holds nothing, so no pointer either
		}
		return find(t.Elem(), path+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p, k := find(f.Type, path+"."+f.Name); p != "" {
				return p, k
			}
		}
	}
	return "", ""
}

// CheckType returns nil if values of type T may be placed in an arena,
// and otherwise a *PointerError (matching ErrPointers) naming the first
// field that holds a Go pointer, such as "T.b[0]: *byte". New and
// MakeSlice call it; it is exported for callers who want to know early.
// Safe for concurrent use; after the first call for a type it costs a
// load and a compare.
func CheckType[T any]() error { return checkType[T]() }

func itoa(n int) string { return strconv.Itoa(n) }
