package config

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/framework/errors"
)

// Bucket is the JetStream key-value bucket the config of a cluster lives in.
const Bucket = "micro_config"

// bucketMaxBytes bounds the bucket: config is small, and a caller's mistake
// (namespace after namespace) must not fill every node's disk.
const bucketMaxBytes = 1 << 30

// secretKeyKey is the bucket key of the secret key; namespace keys are
// tokens, starting with '_', so it cannot collide with one.
const secretKeyKey = "secret-key"

// casAttempts bounds the read-modify-write retries of one Set or Delete
// racing writers on other nodes.
const casAttempts = 100

// WithJetStream keeps the config in the JetStream key-value bucket
// micro_config, replicated on replicas servers, instead of the SQLite file:
// the config of every node of a cluster.
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(c *Config) { c.js, c.replicas = js, max(replicas, 1) }
}

// jsBackend keeps each namespace as ONE value of the bucket: its leaves,
// its revision and its newest changes (nsDoc). A set or delete rewrites it
// with compare-and-set on the value's revision, retrying when another
// writer got there first, so a change, its revision and its log entry land
// together or not at all, as in one SQLite transaction. The price: a
// namespace's config with its change log must fit in one message (the
// connection's max payload); the log is trimmed to fit, and a set that
// would not fit even without a log is a 413.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	now      func() time.Time
	retain   int
	log      *slog.Logger
	// changed gets every namespace's new state as this node sees it, in
	// revision order, whichever node wrote it: it feeds the watch hub.
	changed func(ns string, d *nsDoc)
	// broken ends every watch when the feed stops.
	broken func(error)

	mu      sync.Mutex
	kv      jetstream.KeyValue
	watcher jetstream.KeyWatcher
	closed  bool
}

// nsDoc is one namespace as stored: its revision, its leaves in path order
// and its newest changes, oldest first.
type nsDoc struct {
	Rev     uint64      `json:"r"`
	Leaves  []docLeaf   `json:"l"`
	Changes []docChange `json:"c,omitempty"`
}

type docLeaf struct {
	imageLeaf
	U int64 `json:"u"` // updated, unix nanoseconds
}

type docChange struct {
	R  uint64      `json:"r"`
	P  string      `json:"p"`
	At int64       `json:"t"`
	B  []imageLeaf `json:"b"`
	A  []imageLeaf `json:"a"`
}

func (d *nsDoc) leaves() []Leaf {
	out := make([]Leaf, len(d.Leaves))
	for i, l := range d.Leaves {
		out[i] = Leaf{Path: l.P, Value: l.V, Secret: l.S, KeyID: l.K, Updated: time.Unix(0, l.U)}
	}
	return out
}

// under returns d's leaves at or under path, in path order.
func (d *nsDoc) under(path string) []Leaf {
	all := d.leaves()
	if path == "" {
		return all
	}
	var out []Leaf
	for _, l := range all {
		if l.Path == path || strings.HasPrefix(l.Path, path+".") {
			out = append(out, l)
		}
	}
	return out
}

func (d *nsDoc) changes() []Change {
	out := make([]Change, len(d.Changes))
	for i, c := range d.Changes {
		out[i] = Change{Revision: c.R, Path: c.P, At: time.Unix(0, c.At), Before: fromImage(c.B), After: fromImage(c.A)}
	}
	return out
}

func fromImage(img []imageLeaf) []Leaf {
	out := make([]Leaf, len(img))
	for i, l := range img {
		out[i] = Leaf{Path: l.P, Value: l.V, Secret: l.S, KeyID: l.K}
	}
	return out
}

func toImage(leaves []Leaf) []imageLeaf {
	out := make([]imageLeaf, len(leaves))
	for i, l := range leaves {
		out[i] = imageLeaf{P: l.Path, V: l.Value, S: l.Secret, K: l.KeyID}
	}
	return out
}

// nsKey is the bucket key of namespace ns (any string, even empty): its
// token; the secret key's name is not one.
func nsKey(ns string) string { return jsstorage.Token(ns) }

func newJetStream(js jetstream.JetStream, replicas int, now func() time.Time, retain int, log *slog.Logger) *jsBackend {
	return &jsBackend{js: js, replicas: replicas, now: now, retain: retain, log: log}
}

// maxDoc is the largest namespace value: what one message may carry, less
// room for the headers.
func (b *jsBackend) maxDoc() int {
	return int(b.js.Conn().MaxPayload()) - 4096
}

// bucket binds (creating or updating) the bucket and starts the feed on
// first use; a failure is returned and tried again on the next call.
func (b *jsBackend) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errShuttingDown
	}
	if b.kv != nil {
		return b.kv, nil
	}
	kv, _, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{
		Bucket:       Bucket,
		Description:  "micro config: one value per namespace (leaves, revision, change log) and the secret key",
		MaxValueSize: int64(b.maxDoc()),
		MaxBytes:     bucketMaxBytes,
		Replicas:     b.replicas,
	})
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	// The feed only follows changes from now on: a watch reads its first
	// value itself.
	w, err := kv.WatchAll(context.Background(), jetstream.UpdatesOnly())
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	b.kv, b.watcher = kv, w
	go b.follow(w)
	return kv, nil
}

// follow hands every namespace value written (by any node) to changed.
func (b *jsBackend) follow(w jetstream.KeyWatcher) {
	for e := range w.Updates() {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		ns, err := jsstorage.Name(e.Key())
		if err != nil {
			continue
		}
		var d nsDoc
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			b.log.Error("config: an unreadable namespace value in the bucket", "namespace", ns, "err", err)
			continue
		}
		if b.changed != nil {
			b.changed(ns, &d)
		}
	}
	b.mu.Lock()
	closed := b.closed
	if b.watcher == w {
		// Bind again (and follow again) on the next call.
		b.kv, b.watcher = nil, nil
	}
	b.mu.Unlock()
	if !closed && b.broken != nil {
		b.broken(errors.ServiceUnavailable(errID, "config lost its cluster feed; watch again"))
	}
}

// Close stops the feed.
func (b *jsBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.watcher != nil {
		return b.watcher.Stop()
	}
	return nil
}

// load reads ns's value and the bucket revision it is at (0: none yet).
func (b *jsBackend) load(ctx context.Context, ns string) (*nsDoc, uint64, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, nsKey(ns))
	if stderrors.Is(err, jetstream.ErrKeyNotFound) {
		return &nsDoc{}, 0, nil
	}
	if err != nil {
		return nil, 0, jsstorage.Unavailable(errID, err)
	}
	var d nsDoc
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return nil, 0, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return &d, e.Revision(), nil
}

// write stores d as ns's value if the value is still at revision at (0:
// absent); false means another writer changed it first.
func (b *jsBackend) write(ctx context.Context, ns string, d *nsDoc, at uint64) (bool, error) {
	if len(d.Changes) > b.retain {
		d.Changes = d.Changes[len(d.Changes)-b.retain:]
	}
	data, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	// Trim the log (oldest first) until the value fits; the newest change
	// stays, so watchers on every node can follow.
	for len(data) > b.maxDoc() && len(d.Changes) > 1 {
		d.Changes = d.Changes[(len(d.Changes)+1)/2:]
		if data, err = json.Marshal(d); err != nil {
			return false, err
		}
	}
	if len(data) > b.maxDoc() {
		return false, errors.TooLarge(errID, "namespace %s would hold %d bytes of config; a cluster keeps at most %d per namespace: delete what is no longer needed", ns, len(data), b.maxDoc())
	}
	kv, err := b.bucket(ctx)
	if err != nil {
		return false, err
	}
	if at == 0 {
		_, err = kv.Create(ctx, nsKey(ns), data)
	} else {
		_, err = kv.Update(ctx, nsKey(ns), data, at)
	}
	if jsstorage.IsConflict(err) {
		return false, nil
	}
	if err != nil {
		return false, jsstorage.Unavailable(errID, err)
	}
	return true, nil
}

// change applies fn to ns's value and stores it with compare-and-set,
// again on a fresh read whenever another writer got there first. fn
// returns false when it changed nothing (nothing is written).
func (b *jsBackend) change(ctx context.Context, ns string, fn func(d *nsDoc) (bool, error)) (uint64, error) {
	for attempt := 0; attempt < casAttempts; attempt++ {
		d, at, err := b.load(ctx, ns)
		if err != nil {
			return 0, err
		}
		changed, err := fn(d)
		if err != nil || !changed {
			return 0, err
		}
		ok, err := b.write(ctx, ns, d, at)
		if err != nil {
			return 0, err
		}
		if ok {
			return d.Rev, nil
		}
		// A read from a replica behind the leader, or a writer on another
		// node: read again.
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
	return 0, errors.Conflict(errID, "namespace %s is being changed by too many writers at once; try again", ns)
}

func (b *jsBackend) Leaves(ctx context.Context, ns, path string) ([]Leaf, error) {
	d, _, err := b.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	return d.under(path), nil
}

func (b *jsBackend) Exists(ctx context.Context, ns string) (bool, error) {
	d, _, err := b.load(ctx, ns)
	if err != nil {
		return false, err
	}
	return len(d.Leaves) > 0, nil
}

func (b *jsBackend) Snapshot(ctx context.Context, ns, path string) ([]Leaf, uint64, error) {
	d, _, err := b.load(ctx, ns)
	if err != nil {
		return nil, 0, err
	}
	return d.under(path), d.Rev, nil
}

func (b *jsBackend) Changes(ctx context.Context, ns string, after uint64) ([]Change, uint64, uint64, error) {
	changes, oldest, current, _, err := b.history(ctx, ns, "", after)
	return changes, oldest, current, err
}

// history is Changes with the leaves at or under path at the current
// revision, all from one read.
func (b *jsBackend) history(ctx context.Context, ns, path string, after uint64) (changes []Change, oldest, current uint64, leaves []Leaf, err error) {
	d, _, err := b.load(ctx, ns)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	oldest = d.Rev + 1
	if len(d.Changes) > 0 {
		oldest = d.Changes[0].R
	}
	for _, c := range d.changes() {
		if c.Revision > after {
			changes = append(changes, c)
		}
	}
	leaves = d.under(path)
	if leaves == nil {
		leaves = []Leaf{}
	}
	return changes, oldest, d.Rev, leaves, nil
}

func (b *jsBackend) Set(ctx context.Context, ns, path string, leaves []Leaf, replace bool) (uint64, error) {
	return b.change(ctx, ns, func(d *nsDoc) (bool, error) {
		t := newLeafTree(d)
		before := t.image(path)
		if err := t.set(path, leaves, replace, b.now().UnixNano()); err != nil {
			return false, err
		}
		t.commit(d, path, before, b.now().UnixNano())
		return true, nil
	})
}

func (b *jsBackend) Delete(ctx context.Context, ns, path string) (uint64, error) {
	return b.change(ctx, ns, func(d *nsDoc) (bool, error) {
		t := newLeafTree(d)
		before := t.image(path)
		if t.deleteTree(path) == 0 {
			return false, nil
		}
		t.commit(d, path, before, b.now().UnixNano())
		return true, nil
	})
}

// SecretKey creates the key once for the whole cluster: the first node to
// create it wins and every node reads that one, so all seal alike.
func (b *jsBackend) SecretKey(ctx context.Context, generate func() ([]byte, error)) ([]byte, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, secretKeyKey)
	if err == nil {
		return e.Value(), nil
	}
	if !stderrors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, jsstorage.Unavailable(errID, err)
	}
	fresh, err := generate()
	if err != nil {
		return nil, err
	}
	if _, err := kv.Create(ctx, secretKeyKey, fresh); err == nil {
		return fresh, nil
	} else if !stderrors.Is(err, jetstream.ErrKeyExists) {
		return nil, jsstorage.Unavailable(errID, err)
	}
	// Another node created it first.
	for attempt := 0; ; attempt++ {
		e, err := kv.Get(ctx, secretKeyKey)
		if err == nil {
			return e.Value(), nil
		}
		if !stderrors.Is(err, jetstream.ErrKeyNotFound) || attempt == casAttempts {
			return nil, jsstorage.Unavailable(errID, err)
		}
		time.Sleep(10 * time.Millisecond) // a replica still catching up
	}
}

// leafTree is a namespace's leaves while a set or delete changes them, with
// the same rules as the SQLite backend's statements.
type leafTree struct {
	m    map[string]Leaf
	keys []string // the keys before the change, sorted
	rev  uint64
}

func newLeafTree(d *nsDoc) *leafTree {
	t := &leafTree{m: make(map[string]Leaf, len(d.Leaves)), keys: make([]string, len(d.Leaves)), rev: d.Rev}
	for i, l := range d.leaves() {
		t.m[l.Path] = l
		t.keys[i] = l.Path
	}
	sort.Strings(t.keys)
	return t
}

// below returns the keys there were strictly under path.
func (t *leafTree) below(path string) []string {
	if path == "" {
		return t.keys
	}
	lo, hi := under(path)
	i := sort.SearchStrings(t.keys, lo)
	j := sort.SearchStrings(t.keys, hi)
	return t.keys[i:j]
}

// deleteTree removes path and everything under it (all for ""), returning
// how many leaves went.
func (t *leafTree) deleteTree(path string) int {
	n := 0
	if _, ok := t.m[path]; ok && path != "" {
		delete(t.m, path)
		n++
	}
	for _, k := range t.below(path) {
		if _, ok := t.m[k]; ok {
			delete(t.m, k)
			n++
		}
	}
	return n
}

func (t *leafTree) set(path string, leaves []Leaf, replace bool, now int64) error {
	for _, a := range ancestors(path) {
		l, ok := t.m[a]
		if !ok {
			continue
		}
		if l.Secret || l.Value != emptyObject {
			return &ScalarError{Path: a}
		}
		delete(t.m, a)
	}
	if replace {
		t.deleteTree(path)
	}
	for _, l := range leaves {
		if !replace {
			for _, a := range ancestors(l.Path) {
				if len(a) >= len(path) {
					delete(t.m, a)
				}
			}
			if l.Value == emptyObject && !l.Secret {
				if t.anyBelow(l.Path) {
					continue // merging {} into an object changes nothing
				}
			} else {
				for _, k := range t.below(l.Path) {
					delete(t.m, k)
				}
			}
		}
		l.Updated = time.Unix(0, now)
		t.m[l.Path] = l
	}
	return nil
}

func (t *leafTree) anyBelow(path string) bool {
	for _, k := range t.below(path) {
		if _, ok := t.m[k]; ok {
			return true
		}
	}
	return false
}

// image is what a change at path can touch: its ancestors, it and what is
// under it, in path order.
func (t *leafTree) image(path string) []Leaf {
	var out []Leaf
	for p, l := range t.m {
		if overlapsImage(p, path) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func overlapsImage(p, path string) bool {
	return path == "" || p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(path, p+".")
}

// commit writes the tree back into d as the next revision, logging the
// change at path.
func (t *leafTree) commit(d *nsDoc, path string, before []Leaf, at int64) {
	after := t.image(path)
	d.Leaves = d.Leaves[:0]
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := t.m[k]
		d.Leaves = append(d.Leaves, docLeaf{imageLeaf{P: l.Path, V: l.Value, S: l.Secret, K: l.KeyID}, l.Updated.UnixNano()})
	}
	d.Rev = t.rev + 1
	d.Changes = append(d.Changes, docChange{R: d.Rev, P: path, At: at, B: toImage(before), A: toImage(after)})
}
