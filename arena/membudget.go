package arena

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/mmarena/mmarena/guard"
)

// The memory budget joins two limits that do not know each other: the Go
// runtime's soft memory limit (debug.SetMemoryLimit, GOMEMLIMIT), which
// counts only what the runtime maps, and the arenas' memory, which the
// runtime never sees. With a budget of total bytes, the runtime's limit
// is kept at total minus the bytes arenas hold, so that the collector
// works harder as arenas grow and eases off as they shrink. guard counts
// the bytes when a region is mapped, committed, closed or retired
// (guard.SetCommitHook), a chunk or span at a time, never per
// allocation; the limit moves in steps of budgetStep so that a chunk
// taken and given back in a loop does not call the runtime each time.
var budget struct {
	mu     sync.Mutex
	total  int64 // the budget; 0 when off. guarded by mu
	saved  int64 // the runtime's limit before the budget was set. guarded by mu
	step   int64 // total/256, at least 1 MiB. guarded by mu
	target int64 // the runtime limit last set; -1 before any. guarded by mu
}

// minBudgetStep is the smallest move of the runtime's limit: 1 MiB,
// a quarter of a Bump's default chunk.
const minBudgetStep = 1 << 20

// SetMemoryBudget makes the Go heap and every arena of the process share
// one limit of total bytes, and returns the previous budget (0 when there
// was none); total <= 0 turns the budget off and gives the runtime back
// the memory limit it had before. While it is on, the runtime's soft
// limit (debug.SetMemoryLimit) is total minus CommittedBytes, moved in
// steps of total/256 (at least 1 MiB) as arenas map and close chunks, and
// 0 when arenas hold all of total, where the runtime collects as often
// as its CPU cap for the limit allows. The runtime's limit is soft: to
// refuse arena memory outright, set a cap with SetArenaCap as well. The
// budget replaces any limit set with GOMEMLIMIT or debug.SetMemoryLimit
// while it is on. Safe for concurrent use.
func SetMemoryBudget(total int64) int64 {
	budget.mu.Lock()
	old := budget.total
	if total <= 0 {
		budget.total = 0
		budget.mu.Unlock()
		if old > 0 {
			guard.SetCommitHook(nil)
			budget.mu.Lock()
			debug.SetMemoryLimit(budget.saved)
			budget.mu.Unlock()
		}
		return old
	}
	if old == 0 {
		budget.saved = debug.SetMemoryLimit(-1) // a negative limit reads it
	}
	budget.total = total
	budget.step = max(total/256, minBudgetStep)
	budget.target = -1
	budget.mu.Unlock()
	guard.SetCommitHook(moveLimit) // calls moveLimit once with the count now
	return old
}

// moveLimit sets the runtime's limit for committed arena bytes, when it
// moved by a step or more. guard calls it, one call at a time, after the
// count changes; it makes no system call and allocates nothing.
func moveLimit(committed int64) {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	if budget.total == 0 {
		return
	}
	// Round the arenas' bytes up to a step: the limit errs on the side
	// of the heap having less.
	held := committed
	if r := held % budget.step; r != 0 {
		held += budget.step - r
	}
	target := max(budget.total-held, 0)
	if target != budget.target {
		budget.target = target
		debug.SetMemoryLimit(target)
	}
}

// SetArenaCap caps the bytes that the arenas of the process hold
// together (CommittedBytes, every kind of arena and hardened pool) at n,
// and returns the previous cap; n <= 0 removes it, the default. An
// allocation that needs a new chunk past the cap fails with ErrLimit
// (matching unix.ENOMEM) and changes nothing, so a service can answer
// an error before the kernel's OOM killer acts; CgroupMemoryMax gives
// the container's limit to derive n from. Lowering the cap below what
// is held frees nothing; it refuses growth until arenas shrink. Safe for
// concurrent use.
func SetArenaCap(n int64) int64 { return guard.SetCommitLimit(n) }

// CommittedBytes returns the bytes that the arenas of the process hold
// now: the Ready pages of every live chunk, span, large block and
// sampled slot, from its mapping until its arena closes or trims it. A
// FreeList's emptied spans and decayed large blocks stop counting when
// their pages go back to the OS, and count again before they are reused;
// a Bump's pages released by Trim or ResetRelease count until the chunk
// is dropped. It is what SetArenaCap caps and what SetMemoryBudget takes
// from the Go heap's share. Safe for concurrent use; O(1).
func CommittedBytes() int64 { return guard.Committed() }

// CgroupMemoryMax returns the memory limit of the process's cgroup (v2):
// the smallest memory.max of its cgroup and of every parent, or
// math.MaxInt64 when none sets one ("max"). It returns an error matching
// ErrUnsupported off Linux or without a cgroup v2 hierarchy mounted at
// /sys/fs/cgroup, and the file's error (os.ErrNotExist, ...) otherwise.
// Safe for concurrent use.
func CgroupMemoryMax() (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, fmt.Errorf("%w: cgroup memory limits are Linux only", ErrUnsupported)
	}
	return cgroupMax("/proc/self/cgroup", "/sys/fs/cgroup")
}

// cgroupMax reads the cgroup v2 path from the file self (the format of
// /proc/self/cgroup) and walks from it up to root, the hierarchy's mount
// point, keeping the smallest memory.max.
func cgroupMax(self, root string) (int64, error) {
	b, err := os.ReadFile(self)
	if err != nil {
		return 0, fmt.Errorf("arena: cgroup of the process: %w", err)
	}
	dir := ""
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			dir = rest
		}
	}
	if dir == "" {
		return 0, fmt.Errorf("%w: no cgroup v2 entry in %s", ErrUnsupported, self)
	}
	limit, found := int64(math.MaxInt64), false
	for dir = path.Clean("/" + dir); ; dir = path.Dir(dir) {
		v, err := os.ReadFile(path.Join(root, dir, "memory.max"))
		switch {
		case errors.Is(err, os.ErrNotExist):
			// The root cgroup has no memory.max; a child without the
			// memory controller has none either.
		case err != nil:
			return 0, fmt.Errorf("arena: cgroup memory limit: %w", err)
		default:
			found = true
			s := strings.TrimSpace(string(v))
			if s != "max" {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("arena: cgroup memory limit %q in %s: %w", s, path.Join(root, dir, "memory.max"), err)
				}
				limit = min(limit, n)
			}
		}
		if dir == "/" {
			break
		}
	}
	if !found {
		if _, err := os.Stat(path.Join(root, "cgroup.controllers")); err != nil {
			return 0, fmt.Errorf("%w: no cgroup v2 hierarchy at %s: %w", ErrUnsupported, root, err)
		}
	}
	return limit, nil
}
