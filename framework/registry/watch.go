package registry

import (
	"context"
	"errors"
	"io"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	pb "micro.dev/micro/proto/registry"
)

// Result is one change Watch reports: Action is "create", "update" or
// "delete", Service the service as registered (or deregistered).
type Result = pb.Result

// ErrWatcherStopped is what Next returns after Stop, as Micro's.
var ErrWatcherStopped = errors.New("watcher stopped")

// Watcher follows registry changes.
type Watcher interface {
	// Next blocks until the next change. When the watch could not go on
	// (the server went away or refused it) it returns why.
	Next() (*Result, error)
	Stop()
}

// WatchOptions are the settings of one Watch.
type WatchOptions struct {
	// Service watches only the service of this name; empty: every one.
	Service string
	// Domain is the namespace to watch; default the client's. "*" watches
	// every namespace (an administrator of micro only).
	Domain string
}

// WatchOption sets a WatchOptions field.
type WatchOption func(*WatchOptions)

// WatchService watches only service name.
func WatchService(name string) WatchOption { return func(o *WatchOptions) { o.Service = name } }

// WatchDomain watches namespace d instead of the client's.
func WatchDomain(d string) WatchOption { return func(o *WatchOptions) { o.Domain = d } }

// Watch follows the registry through c: it returns once the registry is
// sending changes, so none made after it returns is missed.
func (r *rpcRegistry) Watch(opts ...WatchOption) (Watcher, error) {
	var o WatchOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := &pb.WatchRequest{Service: o.Service, Options: &pb.Options{Domain: o.Domain}}
	st, err := r.c.Stream(ctx, r.c.NewRequest("registry", "Registry.Watch", req))
	if err != nil {
		cancel()
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		cancel()
		st.Close()
		return nil, err
	}
	st.CloseSend()
	// The registry sends headers once it is subscribed, or fails the call.
	if h, ok := st.(interface{ Header() (grpcmd.MD, error) }); ok {
		if _, err := h.Header(); err != nil {
			cancel()
			st.Close()
			return nil, err
		}
	}
	return &watcher{st: st, ctx: ctx, cancel: cancel}, nil
}

type watcher struct {
	st     client.Stream
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *watcher) Next() (*Result, error) {
	res := new(Result)
	if err := w.st.Recv(res); err != nil {
		if w.ctx.Err() != nil {
			return nil, ErrWatcherStopped
		}
		return nil, err
	}
	return res, nil
}

func (w *watcher) Stop() {
	w.cancel()
	w.st.Close()
}

// Watch follows the registry through the service's client.
func Watch(opts ...WatchOption) (Watcher, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewRegistry(c).Watch(opts...)
}
