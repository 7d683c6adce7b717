package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

// Bucket is the registry's KV bucket in a cluster.
const Bucket = "micro_registry"

// Bounds of the bucket: a registration is capped at MaxRegistrationSize,
// and goneTTL keeps a removed version's last value (what watchers on other
// nodes announce as deleted) only that long.
const (
	maxBucketBytes = 1 << 30
	goneTTL        = time.Minute
	// expiryGrace is how long past its last node's expiry an entry stays
	// in the bucket: the sweeper of some node announces the expiry within
	// it; after it JetStream deletes the entry by itself, so a cluster
	// whose every node is down does not keep dead registrations forever.
	expiryGrace = 10 * time.Minute
)

// jsBackend keeps registrations in a JetStream KV bucket, one entry per
// service version (key: domain.name.version, each an encoded token), so
// every node of a cluster reads and writes the same registrations. Writes
// are read-modify-write with compare-and-set on the entry's revision.
//
// Every node watches the bucket and keeps the entries in memory: reads
// answer from there (a node's own writes are in it when they return; other
// nodes' within the watch's delay), and the changes other nodes write are
// announced to this node's subscribers, which is how a Watch on node B
// hears of a registration through node A.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	now      func() time.Time
	// node is the cluster node registrations through this backend come
	// through; Forget at start removes only its nodes.
	node string
	// writer tells this process's writes from other nodes', whose changes
	// the watch announces.
	writer  string
	publish func(Change)

	kv     jetstream.KeyValue
	stream jetstream.Stream

	mu      sync.RWMutex
	entries map[string]cached
}

type cached struct {
	rev uint64
	e   *jsEntry
}

// jsEntry is the value of one service version.
type jsEntry struct {
	Metadata  map[string]string `json:"metadata,omitempty"`
	Endpoints string            `json:"endpoints,omitempty"`
	Nodes     []jsNode          `json:"nodes"`
	// Gone marks a version removed; Nodes are as they were, for the
	// delete announcement.
	Gone bool `json:"gone,omitempty"`
	// Action is the change this write made ("" for a heartbeat), and
	// Writer the process that made it: other nodes announce it.
	Action string `json:"action,omitempty"`
	Writer string `json:"writer"`
}

type jsNode struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Expires  int64             `json:"expires"`
	// Via is the cluster node the registration came through.
	Via string `json:"via"`
}

func newJetStream(js jetstream.JetStream, replicas int, now func() time.Time, node string, publish func(Change)) *jsBackend {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &jsBackend{js: js, replicas: replicas, now: now, node: node, writer: hex.EncodeToString(id),
		publish: publish, entries: map[string]cached{}}
}

// start binds the bucket and loads its entries, and returns the loop that
// keeps them current and announces other nodes' changes until ctx ends.
func (b *jsBackend) start(ctx, run context.Context) (func(), error) {
	if b.node == "" {
		return nil, errors.New("registry: a JetStream backend needs the cluster node's name (WithClusterNode)")
	}
	kv, stream, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{Bucket: Bucket, Description: "micro registry: service versions and their nodes",
		Replicas: b.replicas, MaxBytes: maxBucketBytes, MaxValueSize: MaxRegistrationSize * 2})
	if err != nil {
		return nil, err
	}
	b.kv, b.stream = kv, stream
	w, err := kv.WatchAll(run)
	if err != nil {
		return nil, fmt.Errorf("watching JetStream bucket %s: %w", Bucket, err)
	}
	// The entries so far, then nil.
	for loaded := false; !loaded; {
		select {
		case en, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watching JetStream bucket %s: ended while loading", Bucket)
			}
			if en == nil {
				loaded = true
				continue
			}
			b.apply(en, false)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		}
	}
	return func() {
		defer w.Stop()
		for {
			select {
			case <-run.Done():
				return
			case en, ok := <-w.Updates():
				if !ok {
					return
				}
				if en != nil {
					b.apply(en, true)
				}
			}
		}
	}, nil
}

// apply takes a watched entry into memory and, when announce is set and
// another process wrote it, announces its change.
func (b *jsBackend) apply(en jetstream.KeyValueEntry, announce bool) {
	key := en.Key()
	if en.Operation() != jetstream.KeyValuePut {
		b.mu.Lock()
		if c, ok := b.entries[key]; ok && c.rev < en.Revision() {
			delete(b.entries, key)
		}
		b.mu.Unlock()
		return
	}
	var e jsEntry
	if json.Unmarshal(en.Value(), &e) != nil {
		return
	}
	if !b.remember(key, en.Revision(), &e) || !announce || e.Writer == b.writer || e.Action == "" {
		return
	}
	s, err := decodeKey(key)
	if err != nil {
		return
	}
	now := b.now().UnixNano()
	b.fill(&s, &e, func(n jsNode) bool { return e.Gone || n.Expires > now })
	b.publish(Change{Action: e.Action, Service: s})
}

// remember keeps e as key's entry unless a later one is known.
func (b *jsBackend) remember(key string, rev uint64, e *jsEntry) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.entries[key]; ok && c.rev >= rev {
		return false
	}
	b.entries[key] = cached{rev: rev, e: e}
	return true
}

func (b *jsBackend) forget(key string, rev uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.entries[key]; ok && c.rev <= rev {
		delete(b.entries, key)
	}
}

func versionKey(domain, name, version string) string {
	return jsstorage.Key(jsstorage.Token(domain), jsstorage.Token(name), jsstorage.Token(version))
}

func decodeKey(key string) (Service, error) {
	toks := strings.Split(key, ".")
	if len(toks) != 3 {
		return Service{}, fmt.Errorf("registry key %q is not domain.name.version", key)
	}
	var s Service
	var err error
	for i, dst := range []*string{&s.Domain, &s.Name, &s.Version} {
		if *dst, err = jsstorage.Name(toks[i]); err != nil {
			return Service{}, err
		}
	}
	return s, nil
}

// fill sets s's metadata, endpoints and the nodes of e that keep holds,
// sorted by id.
func (b *jsBackend) fill(s *Service, e *jsEntry, keep func(jsNode) bool) {
	s.Metadata, s.Endpoints, s.Nodes = e.Metadata, decodeEndpoints(e.Endpoints), nil
	for _, n := range e.Nodes {
		if keep(n) {
			s.Nodes = append(s.Nodes, Node{ID: n.ID, Address: n.Address, Metadata: n.Metadata, Expires: time.Unix(0, n.Expires)})
		}
	}
	slices.SortFunc(s.Nodes, func(x, y Node) int { return strings.Compare(x.ID, y.ID) })
}

// read returns key's current entry and revision from the bucket (not the
// memory): what a compare-and-set is checked against. A missing entry is
// nil at revision 0 or at its delete marker's.
func (b *jsBackend) read(ctx context.Context, key string) (*jsEntry, uint64, error) {
	val, rev, deleted, err := jsstorage.Last(ctx, b.stream, Bucket, key)
	if err != nil || deleted {
		return nil, rev, err
	}
	var e jsEntry
	if err := json.Unmarshal(val, &e); err != nil {
		return nil, rev, fmt.Errorf("registry entry %s: %w", key, err)
	}
	return &e, rev, nil
}

// write stores e at key if key is still at rev, and remembers it.
func (b *jsBackend) write(ctx context.Context, key string, e *jsEntry, rev uint64) error {
	e.Writer = b.writer
	val, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ttl := goneTTL
	if !e.Gone {
		last := int64(0)
		for _, n := range e.Nodes {
			last = max(last, n.Expires)
		}
		ttl = time.Duration(last-b.now().UnixNano()) + expiryGrace
	}
	nrev, err := jsstorage.Put(ctx, b.js, Bucket, key, val, rev, ttl)
	if err != nil {
		return err
	}
	b.remember(key, nrev, e)
	return nil
}

// update runs fn on key's current entry and writes what it returns (nil:
// nothing to write), again from a fresh read whenever another writer got
// there first.
func (b *jsBackend) update(ctx context.Context, key string, fn func(cur *jsEntry) (*jsEntry, error)) error {
	if b.stream == nil {
		return errors.New("registry: not started")
	}
	for range jsstorage.Retries {
		cur, rev, err := b.read(ctx, key)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil || next == nil {
			return err
		}
		err = b.write(ctx, key, next, rev)
		if !errors.Is(err, jsstorage.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("registry entry %s: %w %d times in a row", key, jsstorage.ErrConflict, jsstorage.Retries)
}

func liveOf(e *jsEntry, now int64) map[string]jsNode {
	live := map[string]jsNode{}
	if e == nil || e.Gone {
		return live
	}
	for _, n := range e.Nodes {
		if n.Expires > now {
			live[n.ID] = n
		}
	}
	return live
}

func (b *jsBackend) Register(ctx context.Context, s Service) (*Change, error) {
	eps, err := encodeEndpoints(s.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("encoding endpoints: %w", err)
	}
	key := versionKey(s.Domain, s.Name, s.Version)
	var change *Change
	err = b.update(ctx, key, func(cur *jsEntry) (*jsEntry, error) {
		change = nil
		now := b.now().UnixNano()
		before := liveOf(cur, now)
		next := &jsEntry{Metadata: s.Metadata, Endpoints: eps}
		changed := len(before) == 0 || encodeMetadata(cur.Metadata) != encodeMetadata(s.Metadata) || cur.Endpoints != eps
		byID := map[string]int{}
		if cur != nil && !cur.Gone {
			for _, n := range cur.Nodes {
				byID[n.ID] = len(next.Nodes)
				next.Nodes = append(next.Nodes, n)
			}
		}
		for _, n := range s.Nodes {
			if old, ok := before[n.ID]; !ok || old.Address != n.Address || encodeMetadata(old.Metadata) != encodeMetadata(n.Metadata) {
				changed = true
			}
			jn := jsNode{ID: n.ID, Address: n.Address, Metadata: n.Metadata, Expires: n.Expires.UnixNano(), Via: b.node}
			if i, ok := byID[n.ID]; ok {
				next.Nodes[i] = jn
			} else {
				byID[n.ID] = len(next.Nodes)
				next.Nodes = append(next.Nodes, jn)
			}
		}
		if changed {
			next.Action = ActionUpdate
			if len(before) == 0 {
				next.Action = ActionCreate
			}
			after := Service{Domain: s.Domain, Name: s.Name, Version: s.Version}
			b.fill(&after, next, func(n jsNode) bool { return n.Expires > now })
			change = &Change{Action: next.Action, Service: after}
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return change, nil
}

func (b *jsBackend) Deregister(ctx context.Context, domain, name, version string, ids []string) (*Change, error) {
	var change *Change
	err := b.update(ctx, versionKey(domain, name, version), func(cur *jsEntry) (*jsEntry, error) {
		change = nil
		if cur == nil || cur.Gone {
			return nil, nil
		}
		now := b.now().UnixNano()
		next := *cur
		next.Nodes, next.Action = nil, ""
		if len(ids) > 0 {
			for _, n := range cur.Nodes {
				if !slices.Contains(ids, n.ID) {
					next.Nodes = append(next.Nodes, n)
				}
			}
		}
		before, left := liveOf(cur, now), liveOf(&next, now)
		if len(next.Nodes) == len(cur.Nodes) {
			return nil, nil // none of ids was there
		}
		s := Service{Domain: domain, Name: name, Version: version}
		switch {
		case len(left) == 0:
			// Gone: its last value names the nodes it had.
			next.Nodes, next.Gone = cur.Nodes, true
			if len(before) > 0 {
				next.Action = ActionDelete
				b.fill(&s, cur, func(n jsNode) bool { return n.Expires > now })
				change = &Change{Action: ActionDelete, Service: s}
			}
		case len(left) != len(before):
			next.Action = ActionUpdate
			b.fill(&s, &next, func(n jsNode) bool { return n.Expires > now })
			change = &Change{Action: ActionUpdate, Service: s}
		}
		return &next, nil
	})
	if err != nil {
		return nil, err
	}
	return change, nil
}

func (b *jsBackend) Get(ctx context.Context, domain, name string) ([]Service, error) {
	return b.services(domain, name), nil
}

func (b *jsBackend) List(ctx context.Context, domain string) ([]Service, error) {
	return b.services(domain, ""), nil
}

// services returns the live versions in memory of domain (AnyDomain: all)
// named name ("" for all), sorted as the SQLite backend sorts them.
func (b *jsBackend) services(domain, name string) []Service {
	now := b.now().UnixNano()
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []Service
	for key, c := range b.entries {
		if c.e.Gone {
			continue
		}
		s, err := decodeKey(key)
		if err != nil || (domain != AnyDomain && s.Domain != domain) || (name != "" && s.Name != name) {
			continue
		}
		b.fill(&s, c.e, func(n jsNode) bool { return n.Expires > now })
		if len(s.Nodes) > 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(x, y Service) int {
		return strings.Compare(x.Domain+"\x00"+x.Name+"\x00"+x.Version, y.Domain+"\x00"+y.Name+"\x00"+y.Version)
	})
	return out
}

// due returns the keys in memory whose entry has a node keep selects.
func (b *jsBackend) due(keep func(jsNode) bool) []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var keys []string
	for key, c := range b.entries {
		if !c.e.Gone && slices.ContainsFunc(c.e.Nodes, keep) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// Sweep removes expired nodes from the entries holding one. Every node
// sweeps; compare-and-set makes one of them announce each expiry (to its
// subscribers, and through the watch to every other node's).
func (b *jsBackend) Sweep(ctx context.Context) ([]Change, error) {
	now := b.now().UnixNano()
	var changes []Change
	for _, key := range b.due(func(n jsNode) bool { return n.Expires <= now }) {
		c, _, err := b.remove(ctx, key, func(n jsNode) bool { return n.Expires <= now })
		if err != nil {
			return changes, err
		}
		if c != nil {
			changes = append(changes, *c)
		}
	}
	return changes, nil
}

// remove deletes key's nodes that drop selects, reporting the change and
// how many nodes went.
func (b *jsBackend) remove(ctx context.Context, key string, drop func(jsNode) bool) (*Change, int, error) {
	var change *Change
	var removed int
	err := b.update(ctx, key, func(cur *jsEntry) (*jsEntry, error) {
		change, removed = nil, 0
		if cur == nil {
			// Expired by its TTL, which the watch does not report.
			b.forget(key, math.MaxUint64)
			return nil, nil
		}
		if cur.Gone {
			return nil, nil
		}
		now := b.now().UnixNano()
		next := *cur
		next.Nodes, next.Action = nil, ""
		var gone []jsNode
		for _, n := range cur.Nodes {
			if drop(n) {
				gone = append(gone, n)
			} else {
				next.Nodes = append(next.Nodes, n)
			}
		}
		removed = len(gone)
		if removed == 0 {
			return nil, nil
		}
		s, err := decodeKey(key)
		if err != nil {
			return nil, err
		}
		if len(liveOf(&next, now)) == 0 {
			// Announced as deleted with the nodes that went, as the
			// SQLite sweep does.
			next.Nodes, next.Gone, next.Action = gone, true, ActionDelete
			b.fill(&s, &next, func(jsNode) bool { return true })
			change = &Change{Action: ActionDelete, Service: s}
			return &next, nil
		}
		next.Action = ActionUpdate
		b.fill(&s, &next, func(n jsNode) bool { return n.Expires > now })
		change = &Change{Action: ActionUpdate, Service: s}
		return &next, nil
	})
	return change, removed, err
}

// Forget removes the nodes registered through this cluster node, live or
// not: at this node's start they belonged to its previous run. Nodes that
// came through other nodes are theirs and stay. Other nodes hear of the
// removals through the watch.
func (b *jsBackend) Forget(ctx context.Context) (int64, error) {
	mine := func(n jsNode) bool { return n.Via == b.node }
	var total int64
	for _, key := range b.due(mine) {
		_, n, err := b.remove(ctx, key, mine)
		if err != nil {
			return total, err
		}
		total += int64(n)
	}
	return total, nil
}
