package config

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/config"
)

// watchReadTimeout bounds the read that renders a change for watchers.
const watchReadTimeout = 10 * time.Second

// watcher is one Watch stream: the changes waiting to be sent, and how it
// ended when the hub ended it.
type watcher struct {
	ns, path string
	ch       chan *pb.WatchResponse
	done     chan struct{}
	once     sync.Once
	err      error
}

func (w *watcher) end(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}

// Watch sends the value at path now, then again after every change that
// can alter it (a set or delete at, above or below path), in commit order,
// until the caller goes away. A deleted value is null. Secrets are masked.
// A watcher more than WatchBuffer changes behind is ended with a 429, so a
// stuck client cannot hold up writers; watch again to resume.
func (c *Config) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchResponse]) error {
	ctx := stream.Context()
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return err
	}
	w := &watcher{ns: ns, path: path, ch: make(chan *pb.WatchResponse, WatchBuffer+1), done: make(chan struct{})}

	// The first value and the registration happen under the write lock,
	// so no change falls between them.
	c.writeMu.Lock()
	if c.closed {
		c.writeMu.Unlock()
		return errShuttingDown
	}
	first, err := c.watchValue(ctx, ns, path)
	if err != nil {
		c.writeMu.Unlock()
		return err
	}
	w.ch <- first
	c.watchers[w] = struct{}{}
	c.writeMu.Unlock()

	defer func() {
		c.writeMu.Lock()
		delete(c.watchers, w)
		c.writeMu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return w.err
		case m := <-w.ch:
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

// watchValue renders what a watcher of path is sent: the masked value, null
// when there is none (a namespace with nothing is not an error here).
func (c *Config) watchValue(ctx context.Context, ns, path string) (*pb.WatchResponse, error) {
	leaves, err := c.backend.Leaves(ctx, ns, path)
	if err != nil {
		return nil, c.failed(ctx, "watch", err)
	}
	data, err := c.render(ctx, ns, path, leaves, false)
	if err != nil {
		return nil, err
	}
	return &pb.WatchResponse{Namespace: ns, Path: path, Value: &pb.Value{Data: data, Format: "json"}}, nil
}

// notify sends the new value to every watcher a change at changed in ns
// may concern. The caller holds writeMu and has committed the change.
func (c *Config) notify(ns, changed string) {
	if len(c.watchers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchReadTimeout)
	defer cancel()
	rendered := map[string]*pb.WatchResponse{}
	failed := map[string]error{}
	for w := range c.watchers {
		if w.ns != ns || !overlaps(changed, w.path) {
			continue
		}
		m, ok := rendered[w.path]
		if !ok && failed[w.path] == nil {
			var err error
			if m, err = c.watchValue(ctx, ns, w.path); err != nil {
				failed[w.path] = err
			} else {
				rendered[w.path] = m
			}
		}
		if err := failed[w.path]; err != nil {
			// The stream cannot promise every change any more.
			w.end(err)
			delete(c.watchers, w)
			continue
		}
		select {
		case w.ch <- m:
		default:
			w.end(errors.TooManyRequests(errID, "watch of %s fell %d changes behind and was ended; watch again", w.path, WatchBuffer))
			delete(c.watchers, w)
		}
	}
}
