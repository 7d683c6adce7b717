package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/internal/tracing"
	pb "micro.dev/micro/proto/auth"
)

// Errors of token verification, Micro's.
var (
	// ErrInvalidToken is a token that is malformed, forged, signed with a
	// key its namespace does not have, or expired.
	ErrInvalidToken = errors.New("invalid token provided")
)

// How the public keys a service verifies tokens with are kept fresh.
const (
	// KeysRefresh is how old a namespace's fetched keys may get before the
	// next token of that namespace fetches them again.
	KeysRefresh = 5 * time.Minute
	// keysRetry is how often, at most, a token naming a key its namespace's
	// fetched keys lack fetches them again: a new key shows up quickly,
	// while forged key ids cannot make a fetch per call.
	keysRetry = 10 * time.Second
	// maxKeyNamespaces bounds the namespaces whose keys are kept; past it
	// one not asked about for keysRetry is dropped (see makeRoom).
	maxKeyNamespaces = 256
	// fetchTimeout bounds one fetch of a namespace's keys.
	fetchTimeout = 5 * time.Second
)

// KeySet verifies access tokens locally, with the public keys of the
// token's namespace fetched from the auth block (Auth.PublicKeys) once and
// refreshed every KeysRefresh: verifying costs no call to the server. What
// it cannot see locally is revocation: a token whose account was deleted,
// or whose secret changed, verifies until it expires (the auth block's own
// Inspect refuses it at once).
type KeySet struct {
	c   client.Client
	now func() time.Time

	mu   sync.Mutex
	byNS map[string]*namespaceKeys
}

type namespaceKeys struct {
	mu      sync.Mutex // held while fetching, so one fetch serves every waiting call
	keys    map[string]ed25519.PublicKey
	fetched time.Time
	failed  time.Time // the last fetch that failed: the next waits keysRetry
}

// NewKeySet returns a KeySet fetching keys through c.
func NewKeySet(c client.Client) *KeySet {
	return &KeySet{c: c, now: time.Now, byNS: map[string]*namespaceKeys{}}
}

// Account returns the account of token, verified with its namespace's
// public keys: ErrInvalidToken for a token that is malformed, forged or
// expired, ErrNotAccessToken for a credential or refresh token, another
// error when the keys could not be fetched.
func (k *KeySet) Account(ctx context.Context, token string) (*Account, error) {
	c, err := ParseAccessToken(token, k.now, func(iss, kid string) (ed25519.PublicKey, error) {
		return k.key(ctx, iss, kid)
	})
	switch {
	case errors.Is(err, ErrTokenExpired):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, err
	}
	return &Account{ID: c.Subject, Type: c.Type, Issuer: c.Issuer, Name: c.Name,
		Scopes: c.Scopes, Metadata: c.Metadata}, nil
}

// key returns public key kid of namespace ns, fetching ns's keys when they
// are missing, old, or (at most every keysRetry) lack kid.
func (k *KeySet) key(ctx context.Context, ns, kid string) (ed25519.PublicKey, error) {
	k.mu.Lock()
	nk, ok := k.byNS[ns]
	if !ok {
		if len(k.byNS) >= maxKeyNamespaces && !k.makeRoom(k.now()) {
			// Tokens naming ever new namespaces (made up: the server
			// has none of their keys) cost at most maxKeyNamespaces
			// fetches per keysRetry.
			k.mu.Unlock()
			return nil, ErrInvalidToken
		}
		nk = &namespaceKeys{}
		k.byNS[ns] = nk
	}
	k.mu.Unlock()

	nk.mu.Lock()
	defer nk.mu.Unlock()
	now := k.now()
	key, have := nk.keys[kid]
	age := now.Sub(nk.fetched)
	due := nk.fetched.IsZero() || age >= KeysRefresh || (!have && age >= keysRetry)
	if due && now.Sub(nk.failed) >= keysRetry {
		keys, err := k.fetch(ctx, ns)
		if err != nil {
			nk.failed = now
			if have { // the server is away: the keys we have still verify
				return key, nil
			}
			return nil, err
		}
		nk.keys, nk.fetched = keys, now
		key, have = keys[kid]
	}
	if !have {
		return nil, ErrInvalidToken
	}
	return key, nil
}

// makeRoom forgets one namespace not asked about within keysRetry,
// preferring one without keys (a made-up issuer), then the one asked about
// longest ago; false when every namespace is that recent. k.mu is held.
func (k *KeySet) makeRoom(now time.Time) bool {
	var (
		victim string
		when   time.Time
		empty  bool
		found  bool
	)
	for ns, nk := range k.byNS {
		if !nk.mu.TryLock() { // being fetched: recent
			continue
		}
		last, none := nk.fetched, len(nk.keys) == 0
		if nk.failed.After(last) {
			last = nk.failed
		}
		nk.mu.Unlock()
		if now.Sub(last) < keysRetry {
			continue
		}
		if !found || (none && !empty) || (none == empty && last.Before(when)) {
			victim, when, empty, found = ns, last, none, true
		}
	}
	if found {
		delete(k.byNS, victim)
	}
	return found
}

func (k *KeySet) fetch(ctx context.Context, ns string) (map[string]ed25519.PublicKey, error) {
	// With the service's own credentials, not the caller's, and not bound
	// to the caller's call: one fetch serves every call that waits on it.
	// Nor is it traced: it is the framework's, not the caller's, work.
	ctx, cancel := context.WithTimeout(tracing.Unsampled(context.Background()), fetchTimeout)
	defer cancel()
	rsp := new(pb.PublicKeysResponse)
	req := k.c.NewRequest("auth", "Auth.PublicKeys", &pb.PublicKeysRequest{Options: &pb.Options{Namespace: ns}})
	if err := k.c.Call(ctx, req, rsp); err != nil {
		return nil, err
	}
	keys := make(map[string]ed25519.PublicKey, len(rsp.GetKeys()))
	for _, key := range rsp.GetKeys() {
		if key.GetAlgorithm() == jwt.SigningMethodEdDSA.Alg() && len(key.GetKey()) == ed25519.PublicKeySize {
			keys[key.GetId()] = ed25519.PublicKey(key.GetKey())
		}
	}
	return keys, nil
}

// FromHeader returns the account of an Authorization header's bearer
// token, or nil when there is none or it does not verify.
func (k *KeySet) FromHeader(ctx context.Context, authorization string) *Account {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return nil
	}
	acc, err := k.Account(ctx, tok)
	if err != nil {
		return nil
	}
	return acc
}
