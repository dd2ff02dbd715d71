package list

// Verify exposes the structural checker to the external tests. It reads
// every node, so call it while the arena is open (or after the list found
// it closed).
func Verify[T any](l *List[T]) error { return l.verify() }

// Slabs returns how many spans l's slabs form, for tests of their layout.
func Slabs[T any](l *List[T]) int { return len(l.spans) }
