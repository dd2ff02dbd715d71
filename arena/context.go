package arena

import (
	"context"

	"github.com/mmarena/mmarena/align"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying a, so that code handling a
// request allocates from that request's arena (FromContext). A server
// takes that arena from a Pool and Puts it back when the request is
// done (see the example).
func NewContext(ctx context.Context, a align.Allocator) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the allocator NewContext put in ctx, and false if
// there is none.
func FromContext(ctx context.Context) (align.Allocator, bool) {
	a, ok := ctx.Value(ctxKey{}).(align.Allocator)
	return a, ok
}
