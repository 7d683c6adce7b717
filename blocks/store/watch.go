package store

import (
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// DefaultWatchBuffer is how many changes a watcher may fall behind before
// it is ended with a 429, unless WithWatchBuffer says otherwise.
const DefaultWatchBuffer = 1024

// WithWatchBuffer sets how many undelivered changes a watcher may have
// before it is cut off.
func WithWatchBuffer(n int) Option {
	return func(s *Store) { s.watchBuffer = n }
}

// hub fans committed changes out to watchers, in commit order. Writers
// reserve a sequence number inside their transaction, where the single
// writer serialises them, and commit it (with or without changes) after
// the outcome; the hub holds back later numbers until the earlier ones are
// in, so every watcher sees one order, the commit order. Delivery never
// blocks a writer: a watcher whose buffer is full is ended instead.
type hub struct {
	mu       sync.Mutex
	reserved uint64 // last sequence number handed out
	next     uint64 // next sequence number to deliver
	pending  map[uint64][]Change
	watchers map[*watcher]struct{}
}

func newHub() *hub {
	return &hub{next: 1, pending: map[uint64][]Change{}, watchers: map[*watcher]struct{}{}}
}

// watcher is one Watch call's subscription.
type watcher struct {
	database, table, key string
	prefix               bool
	events               chan Change
	// lagged is closed when the watcher fell too far behind.
	lagged chan struct{}
}

func (w *watcher) matches(c Change) bool {
	if c.Database != w.database || c.Table != w.table {
		return false
	}
	if w.prefix {
		return strings.HasPrefix(c.Record.Key, w.key)
	}
	return c.Record.Key == w.key
}

// Reserve implements Notifier.
func (h *hub) Reserve() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reserved++
	return h.reserved
}

// Commit implements Notifier.
func (h *hub) Commit(seq uint64, changes []Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending[seq] = changes
	for {
		cs, ok := h.pending[h.next]
		if !ok {
			return
		}
		delete(h.pending, h.next)
		h.next++
		for _, c := range cs {
			for w := range h.watchers {
				if !w.matches(c) {
					continue
				}
				select {
				case w.events <- c:
				default:
					close(w.lagged)
					delete(h.watchers, w)
				}
			}
		}
	}
}

// Lost implements Notifier.
func (h *hub) Lost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		close(w.lagged)
		delete(h.watchers, w)
	}
}

func (h *hub) subscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers[w] = struct{}{}
}

func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// Watch streams the changes to a key, or with prefix to every key starting
// with it, committed after the call, in commit order. A record's expiry is
// reported (as an expire event) when the sweeper deletes it, or when a
// write or delete meets it first; reads hiding it report nothing. A watcher
// more than the buffer behind is ended with a 429: read again, then watch.
func (s *Store) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchEvent]) error {
	ctx := stream.Context()
	database, table, err := s.scope(ctx, req.GetDatabase(), req.GetTable())
	if err != nil {
		return err
	}
	if err := checkKey("key", req.GetKey()); err != nil {
		return err
	}
	if req.GetKey() == "" && !req.GetPrefix() {
		return errors.BadRequest(errID, "key is required; to watch a whole table set prefix with an empty key")
	}
	w := &watcher{
		database: database, table: table, key: req.GetKey(), prefix: req.GetPrefix(),
		events: make(chan Change, s.watchBuffer), lagged: make(chan struct{}),
	}
	s.hub.subscribe(w)
	defer s.hub.unsubscribe(w)
	// The headers go out now, so a client knows its subscription is in
	// place before the first change.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		// Drain what is buffered before honouring a cut-off, so the
		// watcher gets everything up to the point it lost.
		select {
		case c := <-w.events:
			if err := stream.Send(toEvent(c, s.now())); err != nil {
				return err
			}
			continue
		default:
		}
		select {
		case c := <-w.events:
			if err := stream.Send(toEvent(c, s.now())); err != nil {
				return err
			}
		case <-w.lagged:
			if len(w.events) > 0 {
				continue
			}
			return errors.TooManyRequests(errID, "watcher fell more than %d changes behind; read the records again and watch again", s.watchBuffer)
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return errors.ServiceUnavailable(errID, "store is shutting down")
		}
	}
}

func toEvent(c Change, now time.Time) *pb.WatchEvent {
	return &pb.WatchEvent{Type: c.Type, Record: toProto(c.Record, now), Database: c.Database, Table: c.Table}
}
