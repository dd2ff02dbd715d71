package arena

import "context"

type ctxKey struct{}

// NewContext returns a copy of ctx carrying a, so that code handling a
// request allocates from that request's arena (FromContext).
func NewContext(ctx context.Context, a Allocator) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the Allocator NewContext put in ctx, and false if
// there is none.
func FromContext(ctx context.Context) (Allocator, bool) {
	a, ok := ctx.Value(ctxKey{}).(Allocator)
	return a, ok
}
