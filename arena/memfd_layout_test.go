package arena

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLayoutHash: a root type's hash changes with any field's name,
// order, size or kind, nested or not, and with an array's length; not
// with the type's own name.
func TestLayoutHash(t *testing.T) {
	type inner struct{ a, b int32 }
	type base struct {
		x  int64
		in inner
		v  [4]uint16
	}
	type renamedType struct {
		x  int64
		in inner
		v  [4]uint16
	}
	type renamedField struct {
		y  int64
		in inner
		v  [4]uint16
	}
	type resized struct {
		x  int32
		in inner
		v  [4]uint16
	}
	type retyped struct {
		x  uint64
		in inner
		v  [4]uint16
	}
	type nested struct {
		x  int64
		in struct{ a, c int32 }
		v  [4]uint16
	}
	type longer struct {
		x  int64
		in inner
		v  [5]uint16
	}
	type reordered struct {
		in inner
		x  int64
		v  [4]uint16
	}
	h := layoutHash(reflect.TypeFor[base]())
	assert.Equal(t, h, layoutHash(reflect.TypeFor[renamedType]()))
	for _, other := range []reflect.Type{
		reflect.TypeFor[renamedField](), reflect.TypeFor[resized](), reflect.TypeFor[retyped](),
		reflect.TypeFor[nested](), reflect.TypeFor[longer](), reflect.TypeFor[reordered](),
	} {
		assert.NotEqual(t, h, layoutHash(other), "%v", other)
	}
}
