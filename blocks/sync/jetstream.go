package sync

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

// Bucket is the sync block's KV bucket in a cluster.
const Bucket = "micro_sync"

// maxBucketBytes caps the bucket: MaxLeases per namespace of at most a few
// hundred bytes each, over the namespaces a cluster has.
const maxBucketBytes = 1 << 30

// jsBackend keeps each namespace's leases, and the last fencing token it
// handed out, in one entry of a JetStream KV bucket (key: the namespace,
// encoded). Every change is a read and a compare-and-set on the entry's
// revision, retried on a conflict, so the holder check, the namespace's
// limit and the token's increase are one step across the cluster, as they
// are one transaction on SQLite. The entry outlives its leases: the token
// keeps growing through the namespace's whole life.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	now      func() time.Time

	mu     gosync.RWMutex
	stream jetstream.Stream
}

// jsNamespace is one namespace's entry.
type jsNamespace struct {
	Last   uint64             `json:"last"`
	Leases map[string]jsLease `json:"leases,omitempty"`
}

type jsLease struct {
	ID      string        `json:"id"`
	Holder  string        `json:"holder,omitempty"`
	Token   uint64        `json:"token"`
	TTL     time.Duration `json:"ttl"`
	Expires int64         `json:"expires"`
}

func newJetStream(js jetstream.JetStream, replicas int, now func() time.Time) *jsBackend {
	return &jsBackend{js: js, replicas: replicas, now: now}
}

func (b *jsBackend) start(ctx context.Context) error {
	_, stream, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{Bucket: Bucket, Description: "micro sync: leases and fencing tokens per namespace",
		Replicas: b.replicas, MaxBytes: maxBucketBytes})
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	b.mu.Lock()
	b.stream = stream
	b.mu.Unlock()
	return nil
}

func (b *jsBackend) ready() (jetstream.Stream, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.stream == nil {
		return nil, stderrors.New("sync: not started")
	}
	return b.stream, nil
}

func (b *jsBackend) read(ctx context.Context, stream jetstream.Stream, key string) (*jsNamespace, uint64, error) {
	val, rev, deleted, err := jsstorage.Last(ctx, stream, Bucket, key)
	if err != nil {
		return nil, 0, err
	}
	n := &jsNamespace{}
	if !deleted {
		if err := json.Unmarshal(val, n); err != nil {
			return nil, 0, fmt.Errorf("sync: namespace entry %s: %w", key, err)
		}
	}
	if n.Leases == nil {
		n.Leases = map[string]jsLease{}
	}
	return n, rev, nil
}

// update runs fn on namespace ns's entry and writes it back if fn says so,
// from a fresh read whenever another node wrote in between.
func (b *jsBackend) update(ctx context.Context, ns string, fn func(n *jsNamespace, now time.Time) (bool, error)) error {
	stream, err := b.ready()
	if err != nil {
		return err
	}
	key := jsstorage.Token(ns)
	for range jsstorage.Retries {
		n, rev, err := b.read(ctx, stream, key)
		if err != nil {
			return err
		}
		write, err := fn(n, b.now())
		if err != nil || !write {
			return err
		}
		val, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if max := b.js.Conn().MaxPayload(); int64(len(val))+1024 > max {
			return fmt.Errorf("%w: the namespace's leases would take %d bytes, more than the cluster carries in one message (%d)", ErrTooMany, len(val), max)
		}
		_, err = jsstorage.Put(ctx, b.js, Bucket, key, val, rev, 0)
		if !stderrors.Is(err, jsstorage.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("sync: namespace %s: %w %d times in a row", ns, jsstorage.ErrConflict, jsstorage.Retries)
}

func (b *jsBackend) Acquire(ctx context.Context, ns string, l Lease, max int) (Lease, error) {
	out := l
	err := b.update(ctx, ns, func(n *jsNamespace, now time.Time) (bool, error) {
		if cur, ok := n.Leases[l.Name]; ok && cur.Expires > now.UnixNano() {
			return false, &Held{Holder: cur.Holder, Expires: time.Unix(0, cur.Expires)}
		}
		_, had := n.Leases[l.Name] // replacing one that ran out, as SQLite does, is not counted
		live := 0
		for name, cur := range n.Leases {
			if cur.Expires > now.UnixNano() {
				live++
			} else {
				delete(n.Leases, name) // ran out: swept on the way
			}
		}
		if !had && live >= max {
			return false, ErrTooMany
		}
		n.Last++
		out = l
		out.Token, out.Expires = n.Last, now.Add(l.TTL)
		n.Leases[l.Name] = jsLease{ID: l.ID, Holder: l.Holder, Token: out.Token, TTL: l.TTL, Expires: out.Expires.UnixNano()}
		return true, nil
	})
	if err != nil {
		return Lease{}, err
	}
	return out, nil
}

func (b *jsBackend) Renew(ctx context.Context, ns, name, id string, ttl time.Duration) (Lease, error) {
	var out Lease
	err := b.update(ctx, ns, func(n *jsNamespace, now time.Time) (bool, error) {
		cur, ok := n.Leases[name]
		if !ok || cur.ID != id || cur.Expires <= now.UnixNano() {
			return false, ErrLost
		}
		if ttl <= 0 {
			ttl = cur.TTL
		}
		cur.TTL, cur.Expires = ttl, now.Add(ttl).UnixNano()
		n.Leases[name] = cur
		out = Lease{Name: name, ID: id, Holder: cur.Holder, Token: cur.Token, TTL: ttl, Expires: time.Unix(0, cur.Expires)}
		return true, nil
	})
	if err != nil {
		return Lease{}, err
	}
	return out, nil
}

func (b *jsBackend) Release(ctx context.Context, ns, name, id string) error {
	return b.update(ctx, ns, func(n *jsNamespace, _ time.Time) (bool, error) {
		if cur, ok := n.Leases[name]; !ok || cur.ID != id {
			return false, nil
		}
		delete(n.Leases, name)
		return true, nil
	})
}

func (b *jsBackend) Leases(ctx context.Context, ns string) ([]Lease, error) {
	stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	n, _, err := b.read(ctx, stream, jsstorage.Token(ns))
	if err != nil {
		return nil, err
	}
	now := b.now().UnixNano()
	var out []Lease
	for name, l := range n.Leases {
		if l.Expires > now {
			out = append(out, Lease{Name: name, Holder: l.Holder, Token: l.Token, TTL: l.TTL, Expires: time.Unix(0, l.Expires)})
		}
	}
	slices.SortFunc(out, func(x, y Lease) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// Sweep removes the leases that ran out from every namespace's entry.
// Every node sweeps; compare-and-set keeps their writes from crossing.
func (b *jsBackend) Sweep(ctx context.Context) (int64, error) {
	stream, err := b.ready()
	if err != nil {
		return 0, err
	}
	var namespaces []string
	err = jsstorage.Scan(ctx, stream, jsstorage.Subject(Bucket, "*"), false, func(m jetstream.Msg) error {
		var n jsNamespace
		if jsstorage.Deleted(m.Headers()) || json.Unmarshal(m.Data(), &n) != nil {
			return nil
		}
		now := b.now().UnixNano()
		for _, l := range n.Leases {
			if l.Expires <= now {
				ns, err := jsstorage.Name(strings.TrimPrefix(m.Subject(), jsstorage.Subject(Bucket, "")))
				if err == nil {
					namespaces = append(namespaces, ns)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, ns := range namespaces {
		var swept int64
		err := b.update(ctx, ns, func(n *jsNamespace, now time.Time) (bool, error) {
			swept = 0
			for name, l := range n.Leases {
				if l.Expires <= now.UnixNano() {
					delete(n.Leases, name)
					swept++
				}
			}
			return swept > 0, nil
		})
		if err != nil {
			return total, err
		}
		total += swept
	}
	return total, nil
}
