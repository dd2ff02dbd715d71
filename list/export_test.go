package list

// Verify exposes the structural checker to the external tests. It probes
// the arena first, as every method does, so that a list whose arena was
// closed is dropped rather than walked.
func Verify[T any](l *List[T]) error {
	_ = l.check() // an error here means there is nothing to walk
	return l.verify()
}

// Slabs returns how many spans l's slabs form, for tests of their layout.
func Slabs[T any](l *List[T]) int { return len(l.spans) }

// RefCounts returns a RefList's counts as its head keeps them: live
// elements, free nodes, nodes allocated, for tests of node reuse.
func RefCounts[T any](l *RefList[T]) (n, free, nodes uint64) { return l.h.len, l.h.nfree, l.h.nodes }
