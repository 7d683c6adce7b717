package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

// dropSessions deletes every refresh token of an account, after the change
// of the account that revokes them committed: a token left by a failure
// here is refused anyway (its account is gone, or its uid changed) and
// swept when it expires.
func (b *jsBackend) dropSessions(ctx context.Context, ns, id string) error {
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	keys, err := listKeys(ctx, kv, famPrefix(ns, id)+".*")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.dropFamily(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// dropFamily deletes a session and the lookups of its tokens.
func (b *jsBackend) dropFamily(ctx context.Context, key string) error {
	var tokens []familyToken
	err := update(ctx, b, key, func(v *family, present bool) (*family, error) {
		if !present {
			return nil, errKeep
		}
		tokens = v.Tokens
		return nil, nil
	})
	if err != nil {
		return err
	}
	return b.dropLookups(ctx, tokens)
}

func (b *jsBackend) dropLookups(ctx context.Context, tokens []familyToken) error {
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := kv.Purge(ctx, rtKey(t.Hash)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return jsstorage.Unavailable(errID, err)
		}
	}
	return nil
}

func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	l, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// family is the value of a fam key: one session's refresh tokens.
type family struct {
	Namespace string        `json:"ns"`
	AccountID string        `json:"account"`
	Family    string        `json:"family"`
	Tokens    []familyToken `json:"tokens"`
}

type familyToken struct {
	Hash    []byte    `json:"h"`
	Created time.Time `json:"c"`
	Expires time.Time `json:"e"`
	Used    time.Time `json:"u,omitzero"`
}

func (b *jsBackend) CreateRefresh(ctx context.Context, rt Refresh) error {
	if _, err := b.Account(ctx, rt.Namespace, rt.AccountID); err != nil {
		return err // ErrNotFound: the account was deleted meanwhile
	}
	key := famKey(rt.Namespace, rt.AccountID, rt.Family)
	// The lookup first: a token without one cannot be used; a lookup
	// without a token is dropped by the sweep.
	if err := b.put(ctx, rtKey(rt.Hash), key, 0); err != nil {
		return err
	}
	return update(ctx, b, key, func(v *family, _ bool) (*family, error) {
		v.Namespace, v.AccountID, v.Family = rt.Namespace, rt.AccountID, rt.Family
		v.Tokens = append(v.Tokens, familyToken{Hash: rt.Hash, Created: rt.Created, Expires: rt.Expires})
		return v, nil
	})
}

// UseRefresh marks the token used with compare-and-set on its session, so
// of two nodes presented the same token at once exactly one succeeds and
// the other sees it used, and revokes the session, as on SQLite.
func (b *jsBackend) UseRefresh(ctx context.Context, hash []byte, now time.Time) (Refresh, error) {
	var key string
	if at, err := b.get(ctx, rtKey(hash), &key); err != nil || at == 0 {
		if err == nil {
			err = ErrNotFound
		}
		return Refresh{}, err
	}
	var (
		rt     Refresh
		reused bool
		gone   []familyToken
	)
	err := update(ctx, b, key, func(v *family, present bool) (*family, error) {
		reused, gone = false, nil
		if !present {
			return nil, ErrNotFound
		}
		for i, t := range v.Tokens {
			if string(t.Hash) != string(hash) {
				continue
			}
			rt = Refresh{Hash: hash, Namespace: v.Namespace, AccountID: v.AccountID, Family: v.Family, Created: t.Created, Expires: t.Expires}
			if !t.Used.IsZero() {
				// Someone holds a copy of a token already exchanged:
				// end the whole session.
				reused, gone = true, v.Tokens
				return nil, nil
			}
			if !now.Before(t.Expires) {
				return nil, ErrNotFound
			}
			v.Tokens[i].Used = now
			return v, nil
		}
		return nil, ErrNotFound
	})
	if err != nil {
		return rt, err
	}
	if reused {
		if err := b.dropLookups(ctx, gone); err != nil {
			return rt, err
		}
		return rt, ErrReused
	}
	return rt, nil
}

// Sweep drops refresh tokens that expired by now or were used by
// usedBefore, session by session, and sessions left with none.
func (b *jsBackend) Sweep(ctx context.Context, now, usedBefore time.Time) (int, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return 0, err
	}
	keys, err := listKeys(ctx, kv, "fam.>")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, key := range keys {
		var gone []familyToken
		err := update(ctx, b, key, func(v *family, present bool) (*family, error) {
			gone = nil
			if !present {
				return nil, errKeep
			}
			kept := v.Tokens[:0:0]
			for _, t := range v.Tokens {
				if !t.Expires.After(now) || (!t.Used.IsZero() && !t.Used.After(usedBefore)) {
					gone = append(gone, t)
				} else {
					kept = append(kept, t)
				}
			}
			if len(gone) == 0 {
				return nil, errKeep
			}
			if len(kept) == 0 {
				return nil, nil
			}
			v.Tokens = kept
			return v, nil
		})
		if err != nil {
			return total, err
		}
		if err := b.dropLookups(ctx, gone); err != nil {
			return total, err
		}
		total += len(gone)
	}
	// Lookups whose token never made it into a session (a failure
	// between the two writes), and delete markers, go too.
	lookups, err := listKeys(ctx, kv, "rt.*")
	if err != nil {
		return total, err
	}
	for _, k := range lookups {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return total, jsstorage.Unavailable(errID, err)
		}
		if e.Created().After(now.Add(-time.Minute)) {
			continue // its session may be being written now
		}
		var fam string
		if err := json.Unmarshal(e.Value(), &fam); err != nil {
			return total, err
		}
		var v family
		at, err := b.get(ctx, fam, &v)
		if err != nil {
			return total, err
		}
		if at == 0 {
			if err := kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return total, jsstorage.Unavailable(errID, err)
			}
		}
	}
	if err := kv.PurgeDeletes(ctx); err != nil {
		return total, jsstorage.Unavailable(errID, err)
	}
	return total, nil
}
