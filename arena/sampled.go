package arena

import (
	"fmt"
	"unsafe"

	"github.com/mmarena/mmarena/arena/hardened"
)

// sampler is an arena's side of hardened mode (Options.Sample): it counts
// the allocations and sends one in Every to the arena's hardened.Pool,
// which places it against a fence. Bump and FreeList use it; the
// arena's goroutine is its only user.
type sampler struct {
	pool  *hardened.Pool
	left  uint64 // allocations until the next sample
	every uint64 // Options.Sample.Every, defaults filled in
}

// newSampler returns the sampler an arena named name needs for o, or
// nil when o is nil. Nothing is mapped until the first sample. The
// pool's options out of range are refused with ErrSize.
func newSampler(name string, o *hardened.Options) (*sampler, error) {
	if o == nil {
		return nil, nil
	}
	po := *o
	if po.Name == "" {
		po.Name = name
	}
	p, err := hardened.NewPool(&po)
	if err != nil {
		return nil, fmt.Errorf("%w: arena %q: Sample: %w", ErrSize, name, err)
	}
	every := uint64(p.Stats().Every)
	return &sampler{pool: p, left: every, every: every}, nil
}

// tick counts an allocation and says whether it is to be sampled.
func (s *sampler) tick() bool {
	s.left--
	if s.left == 0 {
		s.left = s.every
		return true
	}
	return false
}

// alloc places a sampled block, or returns nil when the pool cannot (the
// arena then allocates as usual; the pool counts the sample as skipped).
func (s *sampler) alloc(size, al uintptr) unsafe.Pointer {
	p, err := s.pool.Alloc(size, al)
	if err != nil {
		return nil
	}
	return p
}

// stats returns the pool's statistics, or nil when s is nil (sampling
// is off).
func (s *sampler) stats() *hardened.Stats {
	if s == nil {
		return nil
	}
	st := s.pool.Stats()
	return &st
}

// freeError turns the pool's answer to a Free into the arena's: the
// status of a pointer the pool refused becomes ErrNotOwned,
// ErrInvalidFree or ErrDoubleFree, with the pool's words after it.
func freeError(st hardened.Status, err error) error {
	switch st {
	case hardened.NotOwned:
		return fmt.Errorf("%w: %v", ErrNotOwned, err)
	case hardened.NotStart:
		return fmt.Errorf("%w: %v", ErrInvalidFree, err)
	case hardened.DoubleFree:
		return fmt.Errorf("%w: %v", ErrDoubleFree, err)
	}
	return err
}
