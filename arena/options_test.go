package arena_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestOptions gives every option, in range and out of it, to every
// arena kind: each is accepted, or refused with ErrUnsupported (an option
// the kind does not use) or ErrSize (a value out of range) naming it;
// none is ignored.
func TestOptions(t *testing.T) {
	mapcheck.Baseline(t)
	kinds := []struct {
		name string
		make func(*arena.Options) (interface{ Close() error }, error)
	}{
		{"bump", func(o *arena.Options) (interface{ Close() error }, error) { return arena.NewBump(o) }},
		{"shared", func(o *arena.Options) (interface{ Close() error }, error) { return arena.NewShared(o) }},
		{"freelist", func(o *arena.Options) (interface{ Close() error }, error) { return arena.NewFreeList(o) }},
		{"syncfreelist", func(o *arena.Options) (interface{ Close() error }, error) { return arena.NewSyncFreeList(o) }},
	}
	chunked := map[string]bool{"bump": true, "shared": true}
	freeing := map[string]bool{"freelist": true, "syncfreelist": true}
	sampling := map[string]bool{"bump": true, "freelist": true, "syncfreelist": true}
	all := map[string]bool{"bump": true, "shared": true, "freelist": true, "syncfreelist": true}
	options := []struct {
		name   string
		opts   arena.Options
		option string          // the name the error must give
		takes  map[string]bool // the kinds that accept it
		bad    error           // the error of a kind that takes the option: nil, or ErrSize for a value out of range
	}{
		{"Name", arena.Options{Name: "x"}, "", all, nil},
		{"Limit", arena.Options{Limit: 1 << 20}, "", all, nil},
		{"Limit=-1", arena.Options{Limit: -1}, "Limit", all, arena.ErrSize},
		{"NoGuards", arena.Options{NoGuards: true}, "", all, nil},
		{"HugePages", arena.Options{HugePages: true}, "", all, nil},
		{"Prefault", arena.Options{Prefault: true}, "", all, nil},
		{"InitialSize", arena.Options{InitialSize: 16 << 10}, "InitialSize", chunked, nil},
		{"InitialSize=-5", arena.Options{InitialSize: -5}, "InitialSize", all, arena.ErrSize},
		{"MaxChunk", arena.Options{MaxChunk: 1 << 20}, "MaxChunk", chunked, nil},
		{"MaxChunk=-1", arena.Options{MaxChunk: -1}, "MaxChunk", all, arena.ErrSize},
		{"ResetRelease", arena.Options{ResetRelease: true}, "ResetRelease", chunked, nil},
		{"Quarantine", arena.Options{Quarantine: 2}, "Quarantine", chunked, nil},
		{"Quarantine=-1", arena.Options{Quarantine: -1}, "Quarantine", all, arena.ErrSize},
		{"CheckFreed", arena.Options{CheckFreed: true}, "CheckFreed", freeing, nil},
		{"Sample", arena.Options{Sample: &hardened.Options{}}, "Sample", sampling, nil},
		{"Sample.Every", arena.Options{Sample: &hardened.Options{Every: 1000}}, "Sample", sampling, nil},
		{"Sample.Every=-1", arena.Options{Sample: &hardened.Options{Every: -1}}, "Sample", sampling, arena.ErrSize},
		{"Sample.Slots=-1", arena.Options{Sample: &hardened.Options{Slots: -1}}, "Sample", sampling, arena.ErrSize},
		{"Sample.Slots=max+1", arena.Options{Sample: &hardened.Options{Slots: 1<<20 + 1}}, "Sample", sampling, arena.ErrSize},
		{"Sample.Underflow", arena.Options{Sample: &hardened.Options{Underflow: true}}, "Sample", sampling, nil},
		{"ReadOnly", arena.Options{ReadOnly: true}, "ReadOnly", map[string]bool{}, nil}, // OpenFile's alone
	}
	for _, o := range options {
		for _, k := range kinds {
			t.Run("option="+o.name+"/arena="+k.name, func(t *testing.T) {
				opts := o.opts
				a, err := k.make(&opts)
				switch {
				case !o.takes[k.name]:
					require.Error(t, err)
					assert.ErrorIs(t, err, arena.ErrUnsupported)
					assert.ErrorIs(t, err, errors.ErrUnsupported)
					assert.Contains(t, err.Error(), o.option)
				case o.bad != nil:
					require.Error(t, err)
					assert.ErrorIs(t, err, o.bad)
					assert.Contains(t, err.Error(), o.option)
				default:
					require.NoError(t, err)
					assert.NoError(t, a.Close())
				}
			})
		}
	}
	// Too many slots is valid but more than the address space allows.
	_, err := arena.NewFreeList(&arena.Options{Sample: &hardened.Options{Slots: 1<<20 + 1}})
	assert.ErrorIs(t, err, unix.ENOMEM)
	_, err = arena.NewBump(&arena.Options{Sample: &hardened.Options{Every: -1}})
	assert.ErrorIs(t, err, unix.EINVAL)
}

// TestOptionsDefaultName: an arena given no Name is named after its
// kind.
func TestOptionsDefaultName(t *testing.T) {
	b := newBump(t, nil)
	assert.Equal(t, "bump", b.Name())
	s, err := arena.NewShared(nil)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, "shared", s.Name())
	f := newFreeList(t, nil)
	assert.Equal(t, "freelist", f.Name())
}
