// Package sync is distributed locking for services: leases kept by the
// server (the sync block, in its SQLite file), renewed while held and lost
// when the holder stops renewing for a TTL.
//
//	unlock, err := sync.Lock(ctx, "billing-run", sync.TTL(30*time.Second))
//	if err != nil { ... }
//	defer unlock()
//
//	// one instance of the service runs fn at a time; another takes over
//	// within a TTL when it dies
//	sync.Leader(ctx, "scheduler", func(ctx context.Context) { <-ctx.Done() })
//
// A lease carries a fencing token, larger for every new lease in the
// namespace: pass Lease.Token with the work a lease guards so the thing
// worked on can refuse a holder that has since lost it. Lease.Context
// ends when the lease is lost or released.
package sync

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/sync"
)

const errID = "go.micro.sync"

// DefaultTTL is a lease's TTL unless TTL says otherwise.
const DefaultTTL = 30 * time.Second

// ErrHeld is TryAcquire's error when another lease holds the name: a 409.
var ErrHeld = errors.Conflict(errID, "held by another lease")

// Option configures a lease.
type Option func(*options)

type options struct {
	ttl       time.Duration
	holder    string
	namespace string
	client    client.Client
}

// TTL is how long the lease outlives its holder's last renewal (default
// 30 s, at least 100 ms). The holder renews every TTL/3.
func TTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// Holder names the holder in the server's list of leases; default the
// service's name.
func Holder(name string) Option { return func(o *options) { o.holder = name } }

// Namespace takes the lease in another namespace than the client's.
func Namespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithClient calls the server through c instead of the service's client.
func WithClient(c client.Client) Option { return func(o *options) { o.client = c } }

func newOptions(opts []Option) (options, error) {
	o := options{ttl: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		c, err := client.DefaultOrError()
		if err != nil {
			return o, err
		}
		o.client = c
	}
	if o.holder == "" {
		o.holder = client.ServiceNameOf(o.client)
	}
	return o, nil
}

// Lease is a held lock.
type Lease struct {
	// Name is the lock's name; Token its fencing token.
	Name  string
	Token uint64

	id     string
	o      options
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{} // closed when the renewer has stopped
	err    error
}

type leaseKey struct{}

// LeaseFrom returns the lease whose Context ctx is (or derives from): in
// Leader's fn, the leadership's lease and its fencing token.
func LeaseFrom(ctx context.Context) (*Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(*Lease)
	return l, ok
}

// Context ends when the lease is lost (not renewed in time), released, or
// when the context it was acquired with ends.
func (l *Lease) Context() context.Context { return l.ctx }

// Release stops renewing and gives the lease up. It is safe to call more
// than once; the error is the first call's.
func (l *Lease) Release() error {
	l.once.Do(func() {
		l.cancel()
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.err = l.o.client.Call(ctx, l.o.client.NewRequest("sync", "Sync.Release",
			&pb.ReleaseRequest{Namespace: l.o.namespace, Name: l.Name, Id: l.id}), new(pb.ReleaseResponse))
	})
	return l.err
}

// TryAcquire takes the lease on name if no one holds it, else returns
// ErrHeld.
func TryAcquire(ctx context.Context, name string, opts ...Option) (*Lease, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return tryAcquire(ctx, name, o)
}

func tryAcquire(ctx context.Context, name string, o options) (*Lease, error) {
	sent := time.Now()
	rsp := new(pb.Lease)
	err := o.client.Call(ctx, o.client.NewRequest("sync", "Sync.Acquire",
		&pb.AcquireRequest{Namespace: o.namespace, Name: name, TtlMs: o.ttl.Milliseconds(), Holder: o.holder}), rsp)
	if errors.Code(err) == 409 {
		return nil, ErrHeld
	}
	if err != nil {
		return nil, err
	}
	l := &Lease{Name: name, Token: rsp.GetToken(), id: rsp.GetId(), o: o, done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.WithValue(ctx, leaseKey{}, l))
	go l.renew(sent)
	return l, nil
}

// Acquire waits until it holds the lease on name, or ctx ends. Refused
// connections and an unavailable server are waited out too; other errors
// (no access, bad input) are returned.
func Acquire(ctx context.Context, name string, opts ...Option) (*Lease, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	wait := 20 * time.Millisecond
	for {
		l, err := tryAcquire(ctx, name, o)
		switch {
		case err == nil:
			return l, nil
		case err != ErrHeld && !transient(err):
			return nil, err
		}
		// Jittered, so contenders do not poll in step.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, max(o.ttl/4, 50*time.Millisecond), time.Second)
	}
}

// transient reports an error worth waiting out: the server down or
// restarting.
func transient(err error) bool {
	c := errors.Code(err)
	return client.Refused(err) || c == 503 || c == 408 || c == 504
}

// Lock waits until it holds the lease on name and returns the function
// that releases it.
func Lock(ctx context.Context, name string, opts ...Option) (unlock func() error, err error) {
	l, err := Acquire(ctx, name, opts...)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// renew renews the lease every TTL/3 until it is released or lost. The
// lease counts as lost, and its context ends, once a TTL has passed since
// the last renewal was sent without one succeeding: by then the server
// may have given it to another.
func (l *Lease) renew(lastSent time.Time) {
	defer close(l.done)
	defer l.cancel()
	every := l.o.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		deadline := time.NewTimer(time.Until(lastSent.Add(l.o.ttl)))
		select {
		case <-l.ctx.Done():
			deadline.Stop()
			return
		case <-deadline.C:
			return // lost
		case <-t.C:
			deadline.Stop()
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(l.ctx, every)
		err := l.o.client.Call(ctx, l.o.client.NewRequest("sync", "Sync.Renew",
			&pb.RenewRequest{Namespace: l.o.namespace, Name: l.Name, Id: l.id, TtlMs: l.o.ttl.Milliseconds()}), new(pb.Lease))
		cancel()
		switch {
		case err == nil:
			lastSent = sent
		case errors.Code(err) == 404:
			return // it ran out on the server
		}
	}
}

// Leader campaigns for the lease on name and runs fn while it holds it,
// with a context that ends when the lease is lost or ctx ends. When fn
// returns while still leading, Leader resigns and returns nil; when the
// lease was lost, it campaigns again. It returns when ctx ends (nil), or
// with an error no waiting will fix (no access, bad input).
func Leader(ctx context.Context, name string, fn func(ctx context.Context), opts ...Option) error {
	for {
		l, err := Acquire(ctx, name, opts...)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fn(l.Context())
		lost := l.Context().Err() != nil
		l.Release()
		if ctx.Err() != nil || !lost {
			return nil
		}
	}
}
