package config

import (
	"context"
	"math"
	"sort"
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
	reveal   bool   // send secrets in clear
	rev      uint64 // the namespace revision it has been sent up to (followed backends)
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
// until the caller goes away. A deleted value is null. Every message
// carries the namespace's revision after that change (the first, the
// revision it was read at). Secrets are masked unless options.secret asks
// for them (the caller passed the same access check as Get).
//
// With from_revision the first value is not sent; instead the value after
// each logged change above from_revision that concerns path, rebuilt from
// the change log, then live changes, so a watcher that saw up to revision R
// misses nothing and sees nothing twice. A from_revision older than the log
// keeps (or newer than the namespace's revision) is a 412: read the value
// again and watch from its revision.
//
// A watcher more than WatchBuffer changes behind is ended with a 429, so a
// stuck client cannot hold up writers; watch again to resume.
func (c *Config) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchResponse]) error {
	ctx := stream.Context()
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return err
	}
	w := &watcher{ns: ns, path: path, reveal: req.GetOptions().GetSecret(),
		ch: make(chan *pb.WatchResponse, WatchBuffer+1), done: make(chan struct{})}

	// The first values and the registration happen under the write lock,
	// so no change falls between them.
	c.writeMu.Lock()
	if c.closed {
		c.writeMu.Unlock()
		return errShuttingDown
	}
	var first []*pb.WatchResponse
	for attempt := 0; ; attempt++ {
		if req.FromRevision != nil {
			first, w.rev, err = c.resume(ctx, w, req.GetFromRevision())
		} else {
			var m *pb.WatchResponse
			m, err = c.watchNow(ctx, w)
			first, w.rev = []*pb.WatchResponse{m}, m.GetRevision()
		}
		// A followed backend may be read from a replica behind the change
		// feed; the first values must not be older than what the feed has
		// already passed on, or the watcher would miss the changes between.
		if err != nil || !c.follow || w.rev >= c.seen[ns] {
			break
		}
		if attempt == 50 {
			err = errors.ServiceUnavailable(errID, "config of namespace %s is still catching up on this node; watch again", ns)
			break
		}
		c.writeMu.Unlock()
		time.Sleep(10 * time.Millisecond)
		c.writeMu.Lock()
		if c.closed {
			c.writeMu.Unlock()
			return errShuttingDown
		}
	}
	if err != nil {
		c.writeMu.Unlock()
		return err
	}
	c.watchers[w] = struct{}{}
	c.writeMu.Unlock()

	defer func() {
		c.writeMu.Lock()
		delete(c.watchers, w)
		c.writeMu.Unlock()
	}()
	for _, m := range first {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
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

// resume renders what a watcher that has seen ns up to revision from
// missed: the value after each later logged change that concerns its path.
// The caller holds writeMu.
func (c *Config) resume(ctx context.Context, w *watcher, from uint64) ([]*pb.WatchResponse, uint64, error) {
	var (
		changes         []Change
		oldest, current uint64
		now             []Leaf
		err             error
	)
	if b, ok := c.backend.(*jsBackend); ok {
		// One read of the namespace's value: its log and its leaves agree.
		changes, oldest, current, now, err = b.history(ctx, w.ns, w.path, from)
	} else {
		// Revisions are SQLite integers: a larger one is ahead of any
		// there can be, and would not bind as a query parameter.
		changes, oldest, current, err = c.backend.Changes(ctx, w.ns, min(from, math.MaxInt64))
	}
	if err != nil {
		return nil, 0, c.failed(ctx, "watch", err)
	}
	if from > current {
		return nil, 0, errors.PreconditionFailed(errID, "cannot resume the watch of %s from revision %d: namespace %s is at revision %d; read the value again and watch from its revision", w.path, from, w.ns, current)
	}
	if from < current && from+1 < oldest {
		return nil, 0, errors.PreconditionFailed(errID, "cannot resume the watch of %s from revision %d: the change log of namespace %s starts at revision %d; read the value again and watch from its revision", w.path, from, w.ns, oldest)
	}
	if now == nil {
		// SQLite: no change can commit while the caller holds writeMu.
		if now, err = c.backend.Leaves(ctx, w.ns, w.path); err != nil {
			return nil, 0, c.failed(ctx, "watch", err)
		}
	}
	var out []*pb.WatchResponse
	err = replay(w.path, now, changes, func(ch Change, leaves []Leaf) error {
		m, err := c.watchValue(ctx, w, leaves, ch.Revision)
		out = append(out, m)
		return err
	})
	return out, current, err
}

// changed passes what the backend reports of namespace ns, now at doc's
// revision (written through this node or another), to its watchers: each
// gets the value after every change since the revision it was last sent,
// replayed from the value's change log, in order.
func (c *Config) changed(ns string, d *nsDoc) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if d.Rev > c.seen[ns] {
		c.seen[ns] = d.Rev
	}
	var all []Change
	ctx, cancel := context.WithTimeout(context.Background(), watchReadTimeout)
	defer cancel()
	for w := range c.watchers {
		if w.ns != ns || w.rev >= d.Rev {
			continue
		}
		if all == nil {
			all = d.changes()
		}
		i := sort.Search(len(all), func(i int) bool { return all[i].Revision > w.rev })
		missed := all[i:]
		if len(missed) == 0 || missed[0].Revision != w.rev+1 {
			// The log was trimmed past what this watcher has seen.
			w.end(errors.TooManyRequests(errID, "watch of %s fell behind the changes of namespace %s and was ended; watch again", w.path, ns))
			delete(c.watchers, w)
			continue
		}
		err := replay(w.path, d.under(w.path), missed, func(ch Change, leaves []Leaf) error {
			m, err := c.watchValue(ctx, w, leaves, ch.Revision)
			if err != nil {
				return err
			}
			select {
			case w.ch <- m:
				return nil
			default:
				return errors.TooManyRequests(errID, "watch of %s fell %d changes behind and was ended; watch again", w.path, WatchBuffer)
			}
		})
		if err != nil {
			w.end(err)
			delete(c.watchers, w)
			continue
		}
		w.rev = d.Rev
	}
}

// watchNow renders the value at w's path now, at the current revision.
func (c *Config) watchNow(ctx context.Context, w *watcher) (*pb.WatchResponse, error) {
	leaves, rev, err := c.backend.Snapshot(ctx, w.ns, w.path)
	if err != nil {
		return nil, c.failed(ctx, "watch", err)
	}
	return c.watchValue(ctx, w, leaves, rev)
}

// watchValue renders what watcher w is sent: the value of leaves at
// revision rev, null when there is none (a namespace with nothing is not an
// error here).
func (c *Config) watchValue(ctx context.Context, w *watcher, leaves []Leaf, rev uint64) (*pb.WatchResponse, error) {
	data, err := c.render(ctx, w.ns, w.path, leaves, w.reveal)
	if err != nil {
		return nil, err
	}
	return &pb.WatchResponse{Namespace: w.ns, Path: w.path, Value: &pb.Value{Data: data, Format: "json"}, Revision: rev}, nil
}

// notify sends the new value to every watcher a change at changed in ns,
// which made revision rev, may concern. The caller holds writeMu and has
// committed the change.
func (c *Config) notify(ns, changed string, rev uint64) {
	if len(c.watchers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchReadTimeout)
	defer cancel()
	type view struct {
		path   string
		reveal bool
	}
	rendered := map[view]*pb.WatchResponse{}
	failed := map[view]error{}
	for w := range c.watchers {
		if w.ns != ns || !overlaps(changed, w.path) {
			continue
		}
		k := view{w.path, w.reveal}
		m, ok := rendered[k]
		if !ok && failed[k] == nil {
			leaves, err := c.backend.Leaves(ctx, ns, w.path)
			if err == nil {
				m, err = c.watchValue(ctx, w, leaves, rev)
			} else {
				err = c.failed(ctx, "watch", err)
			}
			if err != nil {
				failed[k] = err
			} else {
				rendered[k] = m
			}
		}
		if err := failed[k]; err != nil {
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
