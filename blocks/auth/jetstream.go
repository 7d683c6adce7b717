package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	merrors "micro.dev/micro/framework/errors"
)

// Bucket is the JetStream key-value bucket a cluster's auth state lives in.
const Bucket = "micro_auth"

// bucketMaxBytes bounds the bucket, so a caller's mistake (account after
// account, login after login) cannot fill every node's disk.
const bucketMaxBytes = 1 << 30

// casAttempts bounds the read-modify-write retries of one change racing
// writers on other nodes.
const casAttempts = 100

// WithJetStream keeps accounts, refresh tokens, rules and signing keys in
// the JetStream key-value bucket micro_auth, replicated on replicas
// servers, instead of the SQLite file: the auth of every node of a cluster.
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(a *Auth) { a.js, a.replicas = js, max(replicas, 1) }
}

// jsBackend keeps the auth state in one bucket, in values each changed with
// compare-and-set (the KV revision) and a retry loop, so every change the
// Backend promises atomic is one value written once:
//
//	boot                       the first start: {key, admin, done}
//	defaultcheck               Backend.DefaultChecked: {hash, default}
//	acc.<ns>                   the accounts of ns (ids and names unique in one value)
//	rules.<ns>                 the rules of ns, present once ns has rules of its own
//	keys.<ns>                  the signing keys of ns
//	fam.<ns>.<account>.<family> a session: its refresh tokens (hashes), used or not
//	rt.<hash>                  which fam key holds the refresh token with that hash
//
// Every name is a jsstorage.Token ('_' and lowercase hex): KV keys allow
// only [-/_=.A-Za-z0-9], and namespaces and ids are any string.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	log      *slog.Logger
	// changed is told which namespace's accounts or rules another write
	// (on any node) changed, so the block's caches forget them.
	changed func(kind, ns string)

	mu      sync.Mutex
	kv      jetstream.KeyValue
	watcher jetstream.KeyWatcher
	closed  bool
}

func accKey(ns string) string   { return "acc." + jsstorage.Token(ns) }
func rulesKey(ns string) string { return "rules." + jsstorage.Token(ns) }
func keysKey(ns string) string  { return "keys." + jsstorage.Token(ns) }
func famPrefix(ns, account string) string {
	return "fam." + jsstorage.Token(ns) + "." + jsstorage.Token(account)
}
func famKey(ns, account, family string) string {
	return famPrefix(ns, account) + "." + jsstorage.Token(family)
}
func rtKey(hash []byte) string { return "rt." + hex.EncodeToString(hash) }

const bootKey = "boot"

const defaultCheckKey = "defaultcheck"

type defaultCheckValue struct {
	Hash    string `json:"hash"`
	Default bool   `json:"default"`
}

func (b *jsBackend) DefaultCheck(ctx context.Context) (string, bool, error) {
	var v defaultCheckValue
	if _, err := b.get(ctx, defaultCheckKey, &v); err != nil {
		return "", false, err
	}
	return v.Hash, v.Default, nil
}

func (b *jsBackend) DefaultChecked(ctx context.Context, hash string, isDefault bool) error {
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(defaultCheckValue{Hash: hash, Default: isDefault})
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, defaultCheckKey, data); err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	return nil
}

func newJetStream(js jetstream.JetStream, replicas int, log *slog.Logger) *jsBackend {
	return &jsBackend{js: js, replicas: replicas, log: log}
}

// bucket binds (creating or updating) the bucket and starts following it
// on first use; a failure is returned and tried again on the next call.
func (b *jsBackend) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, merrors.ServiceUnavailable(errID, "auth is shutting down")
	}
	if b.kv != nil {
		return b.kv, nil
	}
	kv, _, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{
		Bucket:      Bucket,
		Description: "micro auth: accounts, refresh tokens, rules and signing keys per namespace",
		MaxBytes:    bucketMaxBytes,
		Replicas:    b.replicas,
	})
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	w, err := kv.WatchFiltered(context.Background(), []string{"acc.*", "rules.*"}, jetstream.UpdatesOnly())
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	b.kv, b.watcher = kv, w
	go b.follow(w)
	return kv, nil
}

// follow tells the block of every account or rules change, whichever node
// made it. Until it runs again after a failure, every change is assumed.
func (b *jsBackend) follow(w jetstream.KeyWatcher) {
	for e := range w.Updates() {
		if e == nil || b.changed == nil {
			continue
		}
		kind, rest, _ := strings.Cut(e.Key(), ".")
		if ns, err := jsstorage.Name(rest); err == nil {
			b.changed(kind, ns)
		}
	}
	b.mu.Lock()
	if b.watcher == w {
		b.kv, b.watcher = nil, nil
	}
	b.mu.Unlock()
	if b.changed != nil {
		b.changed("", "") // forget everything: changes may have been missed
	}
}

// Close stops following the bucket.
func (b *jsBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.watcher != nil {
		return b.watcher.Stop()
	}
	return nil
}

// get reads key into v and returns its revision; 0 when absent (v is left
// as it is).
func (b *jsBackend) get(ctx context.Context, key string, v any) (uint64, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, jsstorage.Unavailable(errID, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("auth bucket %s: %w", key, err)
	}
	return e.Revision(), nil
}

// errConflict is a compare-and-set that lost to another writer.
var errConflict = errors.New("changed meanwhile")

// put writes v at key if key is still at revision at (0: absent); with
// v nil it deletes key instead.
func (b *jsBackend) put(ctx context.Context, key string, v any, at uint64) error {
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	switch {
	case v == nil && at == 0:
		return nil
	case v == nil:
		err = kv.Delete(ctx, key, jetstream.LastRevision(at))
	default:
		data, jerr := json.Marshal(v)
		if jerr != nil {
			return jerr
		}
		if max := int(b.js.Conn().MaxPayload()) - 4096; len(data) > max {
			return merrors.TooLarge(errID, "%s would hold %d bytes; a cluster keeps at most %d in one value: delete what is no longer needed", key, len(data), max)
		}
		if at == 0 {
			_, err = kv.Create(ctx, key, data)
		} else {
			_, err = kv.Update(ctx, key, data, at)
		}
	}
	if jsstorage.IsConflict(err) {
		return errConflict
	}
	if err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	return nil
}

// update applies fn to the value at key (a fresh T when absent; fn reports
// whether it was present) and writes what fn returns (nil deletes, keep
// leaves it) with compare-and-set, again on a fresh read after a conflict.
func update[T any](ctx context.Context, b *jsBackend, key string, fn func(v *T, present bool) (*T, error)) error {
	for attempt := 0; attempt < casAttempts; attempt++ {
		v := new(T)
		at, err := b.get(ctx, key, v)
		if err != nil {
			return err
		}
		next, err := fn(v, at != 0)
		if errors.Is(err, errKeep) {
			return nil
		}
		if err != nil {
			return err
		}
		switch err := b.put(ctx, key, next, at); {
		case err == nil:
			return nil
		case !errors.Is(err, errConflict):
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
	return merrors.Conflict(errID, "%s is being changed by too many writers at once; try again", key)
}

// errKeep, from an update's fn, leaves the value as it is.
var errKeep = errors.New("keep")

// accounts is the value of acc.<ns>: its accounts by id.
type accounts map[string]Account

// bootValue is the value of boot: the first start's key and admin, kept
// until every part of the first start is written (done).
type bootValue struct {
	Key   *Key     `json:"key,omitempty"`
	Admin *Account `json:"admin,omitempty"`
	Done  bool     `json:"done"`
}

// Bootstrap does the first start once for the whole cluster: the node that
// creates the boot value first stores its key and admin; any node that
// finds the boot value not yet done (a first start under way, or one that
// stopped half way) writes that same key and admin, so however many nodes
// start together there is one first key and one admin.
func (b *jsBackend) Bootstrap(ctx context.Context, key Key, admin Account) (bool, error) {
	var boot bootValue
	at, err := b.get(ctx, bootKey, &boot)
	if err != nil || boot.Done {
		return false, err
	}
	first := false
	if at == 0 {
		boot = bootValue{Key: &key, Admin: &admin}
		switch err := b.put(ctx, bootKey, boot, 0); {
		case err == nil:
			first = true
		case errors.Is(err, errConflict):
			if _, err := b.get(ctx, bootKey, &boot); err != nil {
				return false, err
			}
		default:
			return false, err
		}
	}
	if boot.Key == nil || boot.Admin == nil {
		return false, nil // done meanwhile
	}
	if err := b.CreateKey(ctx, *boot.Key); err != nil && !errors.Is(err, ErrExists) {
		return false, err
	}
	if err := b.CreateAccount(ctx, *boot.Admin); err != nil && !errors.Is(err, ErrExists) {
		return false, err
	}
	err = update(ctx, b, bootKey, func(v *bootValue, _ bool) (*bootValue, error) {
		if v.Done {
			return nil, errKeep
		}
		return &bootValue{Done: true}, nil
	})
	return first, err
}

func (b *jsBackend) CreateAccount(ctx context.Context, acc Account) error {
	acc.Scopes, acc.Metadata = nonNil(acc.Scopes), nonNilMap(acc.Metadata)
	return update(ctx, b, accKey(acc.Namespace), func(v *accounts, _ bool) (*accounts, error) {
		if *v == nil {
			*v = accounts{}
		}
		// An id or a name already taken, either way round, as on SQLite.
		for _, a := range *v {
			if a.ID == acc.ID || a.Name == acc.ID || a.ID == acc.Name || a.Name == acc.Name {
				return nil, ErrExists
			}
		}
		(*v)[acc.ID] = acc
		return v, nil
	})
}

func (b *jsBackend) accounts(ctx context.Context, ns string) (accounts, error) {
	var v accounts
	_, err := b.get(ctx, accKey(ns), &v)
	return v, err
}

func (b *jsBackend) Account(ctx context.Context, ns, id string) (Account, error) {
	v, err := b.accounts(ctx, ns)
	if err != nil {
		return Account{}, err
	}
	a, ok := v[id]
	if !ok {
		return Account{}, ErrNotFound
	}
	return a, nil
}

func (b *jsBackend) AccountByName(ctx context.Context, ns, name string) (Account, error) {
	v, err := b.accounts(ctx, ns)
	if err != nil {
		return Account{}, err
	}
	for _, a := range v {
		if a.Name == name {
			return a, nil
		}
	}
	return Account{}, ErrNotFound
}

func (b *jsBackend) Accounts(ctx context.Context, ns string) ([]Account, error) {
	v, err := b.accounts(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(v))
	for _, a := range v {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (b *jsBackend) DeleteAccount(ctx context.Context, ns, id string) error {
	err := update(ctx, b, accKey(ns), func(v *accounts, _ bool) (*accounts, error) {
		if _, ok := (*v)[id]; !ok {
			return nil, ErrNotFound
		}
		delete(*v, id)
		return v, nil
	})
	if err != nil {
		return err
	}
	return b.dropSessions(ctx, ns, id)
}

func (b *jsBackend) SetSecret(ctx context.Context, ns, id, secretHash, uid string, now time.Time) error {
	err := update(ctx, b, accKey(ns), func(v *accounts, _ bool) (*accounts, error) {
		a, ok := (*v)[id]
		if !ok {
			return nil, ErrNotFound
		}
		a.SecretHash, a.UID, a.Updated = secretHash, uid, now
		(*v)[id] = a
		return v, nil
	})
	if err != nil {
		return err
	}
	return b.dropSessions(ctx, ns, id)
}
