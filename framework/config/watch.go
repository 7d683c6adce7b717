package config

import (
	"context"
	stderrors "errors"
	"io"
	"sync"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/config"
)

// ErrWatcherStopped is what Next returns once Stop was called.
var ErrWatcherStopped = stderrors.New("config: watcher stopped")

// Reconnection backoff of a watcher whose stream broke.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watcher follows the value at one path. Next returns the value when the
// watch began, then the value after each change, in the order the changes
// were committed. A value equal to the one before it is not repeated (a set
// that changed nothing at the path, a sibling's change), as go-micro's
// config watcher did.
//
// The config block sends every change to a connected watcher, and the
// Watcher reads them as they come and queues them, so a slow reader loses
// nothing. When the stream breaks (the server restarts, the network drops)
// the Watcher connects again with backoff and carries on from the value the
// server then reports: if the value changed while it was away, that latest
// value comes next; changes made and overwritten while it was disconnected
// cannot be replayed, because the block keeps no history of changes (it
// has no revision to resume from).
type Watcher struct {
	c      *rpcConfig
	path   string
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when queue or err changes
	queue   []Value
	last    Value // the last value queued
	started bool  // last is set
	err     error // why the watch ended
}

// Watch follows the value at path. The first connection is made before
// Watch returns, so a refused watch (no access, a bad path) is its error.
func (c *rpcConfig) Watch(path string) (*Watcher, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{c: c, path: path, ctx: ctx, cancel: cancel, wake: make(chan struct{})}
	st, err := w.open()
	if err != nil {
		cancel()
		return nil, err
	}
	go w.run(st)
	return w, nil
}

// Next returns the next value, waiting for it. After Stop it returns
// ErrWatcherStopped; if the watch could not go on (the service's client was
// closed) it returns why, once the values queued before have been read.
func (w *Watcher) Next() (Value, error) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			v := w.queue[0]
			w.queue[0] = Value{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return v, nil
		}
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return Value{}, err
		}
		wake := w.wake
		w.mu.Unlock()
		<-wake
	}
}

// Stop ends the watch; Next then returns ErrWatcherStopped.
func (w *Watcher) Stop() error {
	w.cancel()
	w.mu.Lock()
	w.queue = nil
	w.finish(ErrWatcherStopped)
	w.mu.Unlock()
	return nil
}

// finish records why the watch ended, once; the caller holds mu.
func (w *Watcher) finish(err error) {
	if w.err == nil {
		w.err = err
		w.signal()
	}
}

// signal wakes a waiting Next; the caller holds mu.
func (w *Watcher) signal() {
	close(w.wake)
	w.wake = make(chan struct{})
}

// push queues v unless it equals the value queued last.
func (w *Watcher) push(v Value) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || (w.started && v.Equal(w.last)) {
		return
	}
	w.last, w.started = v, true
	w.queue = append(w.queue, v)
	w.signal()
}

// open starts a Watch stream and queues the value it begins with.
func (w *Watcher) open() (client.Stream, error) {
	c := w.c
	req := &pb.WatchRequest{Namespace: c.ns, Path: w.path}
	st, err := c.c.Stream(w.ctx, c.c.NewRequest("config", "Config.Watch", req))
	if err != nil {
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		st.Close()
		return nil, err
	}
	st.CloseSend()
	first := new(pb.WatchResponse)
	if err := st.Recv(first); err != nil {
		st.Close()
		if err == io.EOF {
			err = errors.ServiceUnavailable(errID, "the config watch of %s ended before it began", w.path)
		}
		return nil, err
	}
	w.push(NewValue([]byte(first.GetValue().GetData())))
	return st, nil
}

// run reads the stream, and opens a new one whenever it breaks, until Stop
// or the client is closed.
func (w *Watcher) run(st client.Stream) {
	log := w.c.log.With("path", w.path, "namespace", w.c.ns)
	for {
		err := w.read(st)
		st.Close()
		if w.ctx.Err() != nil {
			return
		}
		if terminal(err) {
			w.mu.Lock()
			w.finish(err)
			w.mu.Unlock()
			return
		}
		log.Warn("config watch interrupted; reconnecting", "err", err)
		for wait := watchRetryMin; ; wait = min(wait*2, watchRetryMax) {
			select {
			case <-w.ctx.Done():
				return
			case <-time.After(wait):
			}
			st, err = w.open()
			if err == nil {
				log.Info("config watch resumed")
				break
			}
			if w.ctx.Err() != nil {
				return
			}
			if terminal(err) {
				w.mu.Lock()
				w.finish(err)
				w.mu.Unlock()
				return
			}
		}
	}
}

// read queues the stream's values until it ends, and says how.
func (w *Watcher) read(st client.Stream) error {
	for {
		m := new(pb.WatchResponse)
		if err := st.Recv(m); err != nil {
			if err == io.EOF {
				return errors.ServiceUnavailable(errID, "the server ended the config watch")
			}
			return err
		}
		w.push(NewValue([]byte(m.GetValue().GetData())))
	}
}

// terminal reports an error after which reconnecting cannot help: the
// client itself was closed (its service stopped).
func terminal(err error) bool {
	return errors.Code(err) == 499
}
