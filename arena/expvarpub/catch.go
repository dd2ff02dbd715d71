package expvarpub

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// Catch returns a handler that serves each request with next under
// hardened.Catch, so that a memory fault in the request's goroutine (a
// guard page hit, a use after close of an arena, an overflow or a use
// after free of a sampled block) ends that request only: the client gets
// 500 Internal Server Error, unless next had already begun its answer,
// and logger (slog.Default() when nil) gets one error record,
// "arena: memory fault in a request", naming the fault (the report's
// words), its kind, the site of the faulting access, and for a sampled
// block or a closed arena the site that allocated it and the one that
// freed, reset or closed it. The server goes on serving.
//
// What it cannot catch: a fault in a goroutine that next started (each
// goroutine must run its own guard.Catch or hardened.Catch; Go's runtime
// kills the process otherwise), a fault inside the runtime or in C code,
// and a bad write that lands on memory that is not fenced (an unsampled
// block's neighbour). An overflow that Free finds in the bytes before a
// sampled block's fence is no fault: it comes back as Free's error (a
// *hardened.Report), for the handler to log. A panic that is not a
// memory fault passes through to net/http, as without Catch. next's
// deferred calls run as the fault unwinds, so an arena put back in a
// Pool by a defer is put back; what the faulting code left half-written
// in it is not undone.
//
// The handler is safe for concurrent use, as next must be.
func Catch(next http.Handler, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &catcher{next: next, log: logger}
}

type catcher struct {
	next http.Handler
	log  *slog.Logger
}

func (c *catcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &started{ResponseWriter: w}
	err := hardened.Catch(func() { c.next.ServeHTTP(rw, r) })
	if err == nil {
		return
	}
	attrs := []any{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error())}
	var rep *hardened.Report
	var fe *guard.FaultError
	switch {
	case errors.As(err, &rep):
		attrs = append(attrs, slog.String("kind", rep.Kind.String()), slog.String("arena", rep.Arena))
		if rep.Fault != nil {
			attrs = append(attrs, slog.String("fault_site", rep.Fault.Site))
		}
		if len(rep.Allocated) > 0 {
			attrs = append(attrs, slog.String("allocated_at", rep.Allocated[0]))
		}
		if len(rep.Freed) > 0 {
			attrs = append(attrs, slog.String(freedKey(rep.Kind), rep.Freed[0]))
		}
	case errors.As(err, &fe):
		attrs = append(attrs, slog.String("kind", "fault"), slog.String("region", fe.Region), slog.String("part", fe.Part.String()), slog.String("fault_site", fe.Site))
	}
	c.log.ErrorContext(r.Context(), "arena: memory fault in a request", attrs...)
	if !rw.wrote {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}

// freedKey names a report's second site by what happened there.
func freedKey(k hardened.Kind) string {
	switch k {
	case hardened.KindUseAfterClose:
		return "closed_at"
	case hardened.KindUseAfterReset:
		return "reset_at"
	}
	return "freed_at"
}

// started is the ResponseWriter next sees: it records whether the answer
// has begun, after which a status can no longer be sent. It is an
// http.Flusher, and Unwrap lets http.ResponseController reach the
// writer's other methods (Hijack, deadlines).
type started struct {
	http.ResponseWriter
	wrote bool
}

func (s *started) WriteHeader(code int) {
	s.wrote = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *started) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Flush sends what was written so far, when the writer below can: a
// handler that asserts http.Flusher keeps working under Catch.
func (s *started) Flush() {
	s.wrote = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *started) Unwrap() http.ResponseWriter { return s.ResponseWriter }
