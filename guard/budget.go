package guard

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// budget counts the kernel mappings that live regions hold, and refuses
// growth past a limit. The default is a quarter of vm.max_map_count
// (16382 of the usual 65530), leaving the Go runtime, the C library and
// anything else in the process most of the table: when a process reaches
// the kernel's limit, the Go runtime aborts on its next heap growth.
var budget struct {
	mu    sync.Mutex
	limit int // guarded by mu
	held  int // guarded by mu; 0 <= held
}

func init() { budget.limit = sysMaxMapCount() / 4 }

// SetBudget sets how many kernel mappings guard may hold at once and
// returns the previous limit. n < 1 restores the default, a quarter of
// vm.max_map_count. Lowering the limit below what is held refuses further
// growth until regions are closed; it unmaps nothing. Safe for concurrent
// use.
func SetBudget(n int) int {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	old := budget.limit
	if n < 1 {
		n = sysMaxMapCount() / 4
	}
	budget.limit = n
	return old
}

// Budget returns the limit and the number of kernel mappings that live
// regions hold now. Safe for concurrent use.
func Budget() (limit, held int) {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	return budget.limit, budget.held
}

// charge records that a caller is about to hold delta more mappings
// (delta may be negative) for an operation on a named region. Past the
// limit it first unmaps regions from the quarantine, oldest first, since
// their mappings guard nothing live; when that is not enough it refuses
// with an error that wraps ErrBudget and unix.ENOMEM. A refused charge
// changes nothing. The caller may hold the lock of a region that is not
// retired, never the quarantine's.
func charge(delta int, what, name string) error {
	for {
		err := chargeOnce(delta, what, name)
		if err == nil || !evictOldest() {
			return err
		}
	}
}

func chargeOnce(delta int, what, name string) error {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	if delta > 0 && budget.held+delta > budget.limit {
		return &budgetError{what: what, name: name, limit: budget.limit, held: budget.held, need: delta}
	}
	budget.held += delta
	return nil
}

type budgetError struct {
	what, name        string // the operation and the region's name
	limit, held, need int
}

// Error says what needed mappings, how many, and the budget.
func (e *budgetError) Error() string {
	return fmt.Sprintf("guard: %s in region %q needs %d more kernel mapping(s); guard holds %d of its budget of %d (vm.max_map_count is %d): close regions or raise it with SetBudget",
		e.what, e.name, e.need, e.held, e.limit, sysMaxMapCount())
}

// Is matches ErrBudget and unix.ENOMEM.
func (e *budgetError) Is(target error) bool { return target == ErrBudget || target == unix.ENOMEM }

// forceCharge records delta more mappings held, past the limit if need
// be: for mappings that exist whether guard likes it or not, such as a
// range the kernel refused to unmap.
func forceCharge(delta int) {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	budget.held += delta
}
