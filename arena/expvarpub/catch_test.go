package expvarpub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// lockedBuffer is a log sink for handlers running on the server's
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the JSON log records written so far.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(l.b.Bytes()))
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

var sink byte

// overflowOnto writes one byte past the end of r, onto its high guard
// page.
//
//go:noinline
func overflowOnto(r *guard.Region) {
	*(*byte)(unsafe.Add(r.Pointer(), r.Size())) = 1
}

// readFreed reads a block after it was freed.
//
//go:noinline
func readFreed(p *int64) { sink = byte(*p) }

// TestCatchGuardPage: a request that overflows onto a guard page gets
// 500, the log record names the region and the faulting function, and
// the next request is served.
func TestCatchGuardPage(t *testing.T) {
	r, err := guard.Map(100, &guard.Options{Name: "request-scratch"})
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()

	var logs lockedBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("/overflow", func(w http.ResponseWriter, _ *http.Request) {
		overflowOnto(r)
		io.WriteString(w, "not reached")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "fine") })
	srv := httptest.NewServer(expvarpub.Catch(mux, slog.New(slog.NewJSONHandler(&logs, nil))))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/overflow")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.NotContains(t, string(body), "not reached")

	recs := logs.records(t)
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, "ERROR", rec["level"])
	assert.Equal(t, "arena: memory fault in a request", rec["msg"])
	assert.Equal(t, "/overflow", rec["path"])
	assert.Equal(t, "request-scratch", rec["region"])
	assert.Contains(t, rec["error"], `past the end of region "request-scratch" (high guard page)`)
	assert.Contains(t, rec["fault_site"], "expvarpub_test.overflowOnto")
	assert.Contains(t, rec["fault_site"], "catch_test.go:")

	res, err = http.Get(srv.URL + "/ok")
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "fine", string(body))
}

// TestCatchSampledBlock: a use after free of a sampled block is logged
// with its kind and all three sites: the faulting read, the allocation
// and the Free.
func TestCatchSampledBlock(t *testing.T) {
	f, err := arena.NewFreeList(&arena.Options{Name: "sessions", Sample: &hardened.Options{Every: 1}})
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()

	var logs lockedBuffer
	h := expvarpub.Catch(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p, err := arena.New[int64](f)
		require.NoError(t, err)
		require.NoError(t, arena.FreeT(f, p))
		readFreed(p)
	}), slog.New(slog.NewJSONHandler(&logs, nil)))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/session", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "use after free", recs[0]["kind"])
	assert.Equal(t, "sessions", recs[0]["arena"])
	assert.Contains(t, recs[0]["fault_site"], "expvarpub_test.readFreed")
	assert.Contains(t, recs[0]["allocated_at"], "expvarpub_test.TestCatchSampledBlock")
	assert.Contains(t, recs[0]["freed_at"], "expvarpub_test.TestCatchSampledBlock")
}

// TestCatchAfterAnswer: when the handler had begun its answer, the
// status stays, and the fault is logged all the same.
func TestCatchAfterAnswer(t *testing.T) {
	r, err := guard.Map(int(align.PageSize()), &guard.Options{Name: "late"})
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	var logs lockedBuffer
	h := expvarpub.Catch(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.(http.Flusher).Flush() // a handler that streams keeps its Flusher
		overflowOnto(r)
	}), slog.New(slog.NewJSONHandler(&logs, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/late", nil))
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.True(t, rec.Flushed)
	assert.Len(t, logs.records(t), 1)
}

// TestCatchOtherPanic: a panic that is not a fault is not Catch's.
func TestCatchOtherPanic(t *testing.T) {
	h := expvarpub.Catch(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("not a fault") }), nil)
	assert.PanicsWithValue(t, "not a fault", func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
}

//go:noinline
func closeArena(t *testing.T, b *arena.Bump) { require.NoError(t, b.Close()) }

// TestCatchUseAfterClose: a pointer kept past its arena's Close, read in
// a request, is logged as a use after close with the Close site and the
// faulting read; the next request is served.
func TestCatchUseAfterClose(t *testing.T) {
	b, err := arena.NewBump(&arena.Options{Name: "closed-request"})
	require.NoError(t, err)
	p, err := arena.New[int64](b)
	require.NoError(t, err)
	closeArena(t, b)

	var logs lockedBuffer
	calls := 0
	h := expvarpub.Catch(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		if calls == 1 {
			readFreed(p)
		}
		io.WriteString(w, "ok")
	}), slog.New(slog.NewJSONHandler(&logs, nil)))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/stale", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	recs := logs.records(t)
	require.Len(t, recs, 1)
	assert.Equal(t, "use after close", recs[0]["kind"])
	assert.Equal(t, "closed-request", recs[0]["arena"])
	assert.Contains(t, recs[0]["closed_at"], "expvarpub_test.closeArena")
	assert.Contains(t, recs[0]["fault_site"], "expvarpub_test.readFreed")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/fresh", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok", rec.Body.String())
}
