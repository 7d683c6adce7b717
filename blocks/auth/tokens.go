package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	fauth "micro.dev/micro/framework/auth"
)

// Tokens are JWTs signed with Ed25519 (JWS "EdDSA"), one key per namespace.
//
// Why EdDSA rather than Micro's RS256: a key is 32 bytes made in
// microseconds (a 4096-bit RSA key takes seconds to generate), signatures
// are 64 bytes (RS256: 512), signing and verifying are fast and
// constant-time, signatures are deterministic (no random nonce to get
// wrong, unlike ECDSA), and there are no parameters to choose badly. The
// cost: a few old JWT libraries cannot verify EdDSA; clients that cannot
// verify locally ask Auth.Inspect, which every client can.
//
// Claims are Micro's: sub (account id), iss (namespace), exp,
// type, scopes, metadata, name; plus iat, uid (the account's generation:
// a token whose account was deleted, or whose secret changed, no longer
// matches) and use ("credential" marks a long-lived service secret that
// Auth.Token accepts in place of a password; access tokens have none).
type claims = fauth.Claims

// useCredential marks a JWT that serves as an account's secret.
const useCredential = fauth.UseCredential

// Why a token was refused; the caller turns them into 401s.
var (
	errTokenExpired = errors.New("token has expired")
	errTokenInvalid = errors.New("invalid token")
	errTokenRevoked = errors.New("token was revoked: its account no longer exists or its secret was changed")
)

// signingKey is one namespace key, ready to use.
type signingKey struct {
	id   string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newSigningKey(k Key) (signingKey, error) {
	if len(k.Seed) != ed25519.SeedSize {
		return signingKey{}, fmt.Errorf("signing key %s/%s has a %d-byte seed", k.Namespace, k.ID, len(k.Seed))
	}
	priv := ed25519.NewKeyFromSeed(k.Seed)
	return signingKey{id: k.ID, priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// generateKey makes a new signing key for ns.
func generateKey(ns string, now time.Time) Key {
	seed := make([]byte, ed25519.SeedSize)
	id := make([]byte, 8)
	if _, err := rand.Read(seed); err != nil {
		panic(err)
	}
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	return Key{Namespace: ns, ID: hex.EncodeToString(id), Seed: seed, Created: now}
}

// keyring caches the signing keys of each namespace; a namespace gets its
// first key when it first issues a token.
type keyring struct {
	backend Backend
	now     func() time.Time

	mu   sync.Mutex
	byNS map[string][]signingKey // newest first

	// verified remembers tokens whose signature checked out, so a token
	// used call after call is verified once: keys are never deleted, so a
	// signature once good stays good. Expiry is still checked on every use.
	vmu      sync.Mutex
	verified map[string]*claims
}

// maxVerified bounds the verified-token cache; past it, it starts over.
const maxVerified = 10_000

func newKeyring(b Backend, now func() time.Time) *keyring {
	return &keyring{backend: b, now: now, byNS: map[string][]signingKey{}, verified: map[string]*claims{}}
}

func (k *keyring) load(ctx context.Context, ns string) ([]signingKey, error) {
	stored, err := k.backend.Keys(ctx, ns)
	if err != nil {
		return nil, err
	}
	keys := make([]signingKey, 0, len(stored))
	for _, s := range stored {
		sk, err := newSigningKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, sk)
	}
	return keys, nil
}

// signer returns the key that signs ns's tokens, making one if ns has none.
func (k *keyring) signer(ctx context.Context, ns string) (signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if keys := k.byNS[ns]; len(keys) > 0 {
		return keys[0], nil
	}
	keys, err := k.load(ctx, ns)
	if err != nil {
		return signingKey{}, err
	}
	if len(keys) == 0 {
		stored := generateKey(ns, k.now())
		switch err := k.backend.CreateKey(ctx, stored); {
		case errors.Is(err, ErrExists):
			// Another node of a cluster made ns's first key: sign with it.
			if keys, err = k.load(ctx, ns); err != nil {
				return signingKey{}, err
			}
			if len(keys) == 0 {
				return signingKey{}, fmt.Errorf("namespace %s has a signing key that cannot be read yet", ns)
			}
		case err != nil:
			return signingKey{}, err
		default:
			sk, err := newSigningKey(stored)
			if err != nil {
				return signingKey{}, err
			}
			keys = []signingKey{sk}
		}
	}
	k.byNS[ns] = keys
	return keys[0], nil
}

// verifier returns the public key id of ns. A key the cache does not know
// is looked for in the backend once; a namespace without keys is not
// cached, so made-up issuers cannot fill the cache.
func (k *keyring) verifier(ctx context.Context, ns, id string) (ed25519.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, sk := range k.byNS[ns] {
		if sk.id == id {
			return sk.pub, nil
		}
	}
	keys, err := k.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		k.byNS[ns] = keys
	}
	for _, sk := range keys {
		if sk.id == id {
			return sk.pub, nil
		}
	}
	return nil, errTokenInvalid
}

// sign issues a JWT for acc valid for ttl from now.
func (k *keyring) sign(ctx context.Context, acc Account, ttl time.Duration, use string) (string, time.Time, error) {
	sk, err := k.signer(ctx, acc.Namespace)
	if err != nil {
		return "", time.Time{}, err
	}
	now := k.now()
	exp := now.Add(ttl)
	c := claims{
		Type:     acc.Type,
		Scopes:   nonNil(acc.Scopes),
		Metadata: nonNilMap(acc.Metadata),
		Name:     acc.Name,
		UID:      acc.UID,
		Use:      use,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   acc.ID,
			Issuer:    acc.Namespace,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = sk.id
	s, err := t.SignedString(sk.priv)
	return s, exp, err
}

// parse checks a JWT's signature (against the key of its issuer named by
// its kid) and expiry, and returns its claims, which callers must not
// change. It does not check that the account still exists;
// Auth.checkLive does.
func (k *keyring) parse(ctx context.Context, token string) (*claims, error) {
	if len(token) > fauth.MaxTokenSize {
		return nil, errTokenInvalid
	}
	k.vmu.Lock()
	c, ok := k.verified[token]
	k.vmu.Unlock()
	if ok {
		if !k.now().Before(c.ExpiresAt.Time) {
			return nil, errTokenExpired
		}
		return c, nil
	}
	c, err := k.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	k.vmu.Lock()
	if len(k.verified) >= maxVerified {
		clear(k.verified)
	}
	k.verified[token] = c
	k.vmu.Unlock()
	return c, nil
}

// verify is parse without the cache.
func (k *keyring) verify(ctx context.Context, token string) (*claims, error) {
	c, err := fauth.ParseToken(token, k.now, func(iss, kid string) (ed25519.PublicKey, error) {
		return k.verifier(ctx, iss, kid)
	})
	switch {
	case errors.Is(err, fauth.ErrTokenExpired):
		return nil, errTokenExpired
	case errors.Is(err, fauth.ErrInvalidToken), errors.Is(err, errTokenInvalid):
		return nil, errTokenInvalid
	case err != nil:
		return nil, err // the backend failed: not the caller's fault
	case c.UID == "":
		return nil, errTokenInvalid
	}
	return c, nil
}

// public returns ns's keys without making one: a namespace with none is
// looked up each time and not cached, as in verifier.
func (k *keyring) public(ctx context.Context, ns string) ([]signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if keys := k.byNS[ns]; len(keys) > 0 {
		return keys, nil
	}
	keys, err := k.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		k.byNS[ns] = keys
	}
	return keys, nil
}
