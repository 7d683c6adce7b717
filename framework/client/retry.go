package client

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/errors"
	errpb "micro.dev/micro/proto/errors"
)

// BackoffFunc is how long to wait before retry number attempt (1 for the
// first retry) of req, as Micro's; an error ends the call with it.
type BackoffFunc func(ctx context.Context, req Request, attempt int) (time.Duration, error)

// WithBackoff sets the wait before each retry; default DefaultBackoff.
func WithBackoff(fn BackoffFunc) CallOption { return func(o *CallOptions) { o.Backoff = fn } }

// DefaultBackoff waits 100 ms before the first retry, doubling up to 2 s,
// each with jitter (half to all of it) so that clients failing together do
// not come back together.
func DefaultBackoff(_ context.Context, _ Request, attempt int) (time.Duration, error) {
	d := min(100*time.Millisecond<<min(max(attempt-1, 0), 5), 2*time.Second)
	return d/2 + rand.N(d/2+1), nil
}

// Retryable reports whether a call that failed with err did no work and
// may be made again: the connection was refused (nothing was sent), or the
// server answered with a micro 503 (it is stopping, or has no node to
// forward to). A transport error after the request may have been sent is
// not retryable, nor is any other answer.
func Retryable(err error) bool {
	if Refused(err) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if pe, ok := d.(*errpb.Error); ok {
			return pe.Code == 503
		}
	}
	return errors.Parse(st.Message()).Code == 503 // a micro error's JSON; plain text parses as a 500
}

// retry waits before retry number attempt, unless the call is over; it
// reports whether to make it.
func (o CallOptions) retry(ctx context.Context, req Request, attempt int, err error) bool {
	if attempt > o.Retries || !Retryable(err) || ctx.Err() != nil {
		return false
	}
	backoff := o.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	d, berr := backoff(ctx, req, attempt)
	if berr != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
