package arena

import (
	"sync"
	"unsafe"
	"weak"
)

// A SyncFreeList is a FreeList safe for concurrent use: every call takes
// one mutex. A block allocated by one goroutine may be freed by another.
// TakeSnapshot takes the mutex too, to read its numbers as they are.
// Make one with NewSyncFreeList; the zero SyncFreeList's methods return
// ErrNoArena, or do nothing. A SyncFreeList must not be copied after
// first use.
type SyncFreeList struct {
	mu sync.Mutex
	f  *FreeList // guarded by mu
}

// NewSyncFreeList returns an empty free-list arena safe for concurrent
// use, with the options NewFreeList takes.
func NewSyncFreeList(opts *Options) (*SyncFreeList, error) {
	f, err := newFreeList(opts, callerPC(1))
	if err != nil {
		return nil, err
	}
	s := &SyncFreeList{f: f}
	// TakeSnapshot asks the arena under its lock, so a busy SyncFreeList
	// is never shown behind. The registry holds it weakly: a
	// SyncFreeList dropped without Close must still become unreachable,
	// for its leak to be reported; from then on its last published
	// counters stand.
	st, w := f.st, weak.Make(s)
	setLive(st.id, func() Summary {
		if s := w.Value(); s != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.closed {
				return st.summary()
			}
		}
		return st.published()
	})
	return s, nil
}

// Malloc is FreeList.Malloc under the lock: a block whose bytes are
// unspecified (old bytes of this arena, never another process's).
func (s *SyncFreeList) Malloc(size, align uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	if p, _ := s.f.st.allocFast(size, align); p != nil {
		s.mu.Unlock()
		return p, nil
	}
	return s.allocLocked(size, align, false)
}

// allocLocked is FreeList.Alloc (zero) or Malloc for what allocFast
// left, releasing s.mu when it returns. Apart from Alloc and Malloc, so
// that their fast paths carry no defer's frame.
// s.mu must be held.
func (s *SyncFreeList) allocLocked(size, align uintptr, zero bool) (unsafe.Pointer, error) {
	defer s.mu.Unlock()
	if zero {
		return s.f.Alloc(size, align)
	}
	return s.f.Malloc(size, align)
}

// Alloc is FreeList.Alloc under the lock, but for the clear of a reused
// small block, which comes after the Unlock: the block is the caller's
// alone by then. Under the lock the clear cost a memory latency more per
// call, because Unlock is an atomic instruction, which on amd64 waits
// for every store in flight, the clear's cold lines included, to land.
// A Close that runs between the Unlock and the clear makes the clear a
// use after close, as the caller's first write to the block would be.
func (s *SyncFreeList) Alloc(size, align uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	if p, dirty := s.f.st.allocFast(size, align); p != nil {
		s.mu.Unlock()
		clearBytes(p, dirty)
		return p, nil
	}
	return s.allocLocked(size, align, true)
}

// Free is FreeList.Free under the lock.
func (s *SyncFreeList) Free(p unsafe.Pointer) error {
	if s.f == nil {
		return errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	if !invariantsEnabled && s.f.st.fast {
		// No defer: a plain, open arena's Free panics on no input (its
		// errors are values, and it reads no user memory that could
		// fault), so the Unlock below is always reached. The defer's
		// frame and call cost about 20 instructions a Free. Debug
		// builds, whose checks panic, and checking arenas keep it.
		err := s.f.Free(p)
		s.mu.Unlock()
		return err
	}
	defer s.mu.Unlock()
	return s.f.Free(p)
}

// Realloc is FreeList.Realloc under the lock.
func (s *SyncFreeList) Realloc(p unsafe.Pointer, n uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Realloc(p, n)
}

// Calloc is FreeList.Calloc under the lock.
func (s *SyncFreeList) Calloc(n, size uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Calloc(n, size)
}

// UsableSize is FreeList.UsableSize under the lock.
func (s *SyncFreeList) UsableSize(p unsafe.Pointer) (uintptr, error) {
	if s.f == nil {
		return 0, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.UsableSize(p)
}

// Stats is FreeList.Stats under the lock.
func (s *SyncFreeList) Stats() Stats {
	if s.f == nil {
		return Stats{} // the zero SyncFreeList
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Stats()
}

// Close is FreeList.Close under the lock.
func (s *SyncFreeList) Close() error {
	if s.f == nil {
		return errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// State is FreeList.State under the lock (a SyncFreeList cannot be
// frozen).
func (s *SyncFreeList) State() (generation uint64, err error) {
	if s.f == nil {
		return 0, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.State()
}
