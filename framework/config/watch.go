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
// nothing. Every message carries the namespace's revision, and the Watcher
// remembers the last one it queued. When the stream breaks (the server
// restarts, the network drops) the Watcher connects again with backoff and
// resumes from that revision: the block replays, from its durable change
// log, the value after each change made while it was away, in order, and
// nothing it had already sent. If the block no longer holds that far back
// (it keeps each namespace's newest changes, 1000 by default) it answers
// 412, and the Watcher falls back to reading the current value and carries
// on from there: only then can changes made and overwritten while it was
// away be skipped.
type Watcher struct {
	c      *rpcConfig
	path   string
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when queue or err changes
	queue   []Value
	last    Value  // the last value queued
	started bool   // last is set
	rev     uint64 // the namespace's revision after last; resume after it
	resume  bool   // rev is good to resume from
	err     error  // why the watch ended
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
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return v, nil
		}
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return NewValue(nil), err
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

// push queues the value in m unless it equals the value queued last, and
// records its revision. A message at or below the revision already queued
// is one the Watcher has, and is dropped.
func (w *Watcher) push(m *pb.WatchResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || (w.resume && m.GetRevision() != 0 && m.GetRevision() <= w.rev) {
		return
	}
	w.rev, w.resume = m.GetRevision(), true
	v := NewValue([]byte(m.GetValue().GetData()))
	if w.started && v.JSON() == w.last.JSON() {
		return
	}
	w.last, w.started = v, true
	w.queue = append(w.queue, v)
	w.signal()
}

// forget drops the revision to resume from, so the next open reads the
// current value: the block's change log no longer reaches back to it.
func (w *Watcher) forget() {
	w.mu.Lock()
	w.resume, w.rev = false, 0
	w.mu.Unlock()
}

// tooOld reports the block's answer to a resume it cannot serve.
func tooOld(err error) bool {
	return errors.Code(err) == 412
}

// open starts a Watch stream. The first time (or after forget) it waits for
// and queues the value the stream begins with; otherwise it resumes after
// the last revision queued, and the stream carries only later changes.
func (w *Watcher) open() (client.Stream, error) {
	c := w.c
	req := &pb.WatchRequest{Namespace: c.ns, Path: w.path}
	w.mu.Lock()
	resume := w.resume
	if resume {
		req.FromRevision = &w.rev
	}
	w.mu.Unlock()
	st, err := c.c.Stream(w.ctx, c.c.NewRequest("config", "Config.Watch", req))
	if err != nil {
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		st.Close()
		return nil, err
	}
	st.CloseSend()
	if resume {
		// Nothing may come until the next change; a refusal (412) comes
		// from the stream's first read.
		return st, nil
	}
	first := new(pb.WatchResponse)
	if err := st.Recv(first); err != nil {
		st.Close()
		if err == io.EOF {
			err = errors.ServiceUnavailable(errID, "the config watch of %s ended before it began", w.path)
		}
		return nil, err
	}
	w.push(first)
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
		if tooOld(err) {
			log.Warn("config watch cannot resume from its revision; reading the current value", "err", err)
			w.forget()
		} else {
			log.Warn("config watch interrupted; reconnecting", "err", err)
		}
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
			if tooOld(err) {
				w.forget()
				continue
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
		w.push(m)
	}
}

// terminal reports an error after which reconnecting cannot help: the
// client itself was closed (its service stopped).
func terminal(err error) bool {
	return errors.Code(err) == 499
}
