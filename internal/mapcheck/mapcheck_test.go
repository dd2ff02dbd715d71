package mapcheck

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
)

// recorder stands in for a test: it keeps the cleanups and the errors
// Baseline reports instead of failing the real test.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestBaselineCatchesALeak proves the check can fail: a region left open
// is reported, and a closed one is not.
func TestBaselineCatchesALeak(t *testing.T) {
	rec := &recorder{TB: t}
	Baseline(rec)
	r, err := guard.Map(4096, &guard.Options{Name: "leaky"})
	require.NoError(t, err)
	rec.end()
	require.NoError(t, r.Close())
	require.NotEmpty(t, rec.errs)
	assert.Contains(t, rec.errs[0], "guard holds 1 kernel mappings at the end, 0 at the start")
	assert.Contains(t, rec.errs[1], "guard mapped and did not unmap 1 range(s)")

	ok := &recorder{TB: t}
	Baseline(ok)
	r, err = guard.Map(4096, nil)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	ok.end()
	assert.Empty(t, ok.errs)
}
