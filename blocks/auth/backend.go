package auth

import (
	"context"
	"errors"
	"time"
)

// Backend is where the auth block's state persists: accounts, refresh
// tokens, rules and signing keys, all per namespace. The block's rules
// (validation, hashing, tokens, verification, who may do what) live above
// it in Auth, so every backend, the SQLite file today and a clustered one
// later, behaves the same.
//
// Lookups of something missing return ErrNotFound; creating something that
// exists returns ErrExists.
type Backend interface {
	// Bootstrap does the first start once: it stores key as the first
	// signing key of key.Namespace and creates admin. It reports whether it
	// did anything; after the first call it does nothing.
	Bootstrap(ctx context.Context, key Key, admin Account) (bool, error)

	// CreateAccount adds an account; an existing id or name in its
	// namespace is ErrExists.
	CreateAccount(ctx context.Context, acc Account) error
	// Account returns the account with id in ns.
	Account(ctx context.Context, ns, id string) (Account, error)
	// AccountByName returns the account named name in ns.
	AccountByName(ctx context.Context, ns, name string) (Account, error)
	// Accounts returns the accounts of ns ordered by id.
	Accounts(ctx context.Context, ns string) ([]Account, error)
	// DeleteAccount removes an account and its refresh tokens.
	DeleteAccount(ctx context.Context, ns, id string) error
	// SetSecret replaces an account's secret hash and uid, and removes its
	// refresh tokens, so that every token issued before stops working.
	SetSecret(ctx context.Context, ns, id, secretHash, uid string, now time.Time) error

	// CreateRefresh stores a refresh token.
	CreateRefresh(ctx context.Context, rt Refresh) error
	// UseRefresh marks the live token with hash used and returns it, or
	// ErrNotFound when no live token has that hash. A token that was
	// already used revokes its whole family and returns ErrReused.
	UseRefresh(ctx context.Context, hash []byte, now time.Time) (Refresh, error)

	// Rules returns the rules of ns and whether ns has rules of its own;
	// when it does not, the caller applies the defaults.
	Rules(ctx context.Context, ns string) ([]Rule, bool, error)
	// CreateRule adds a rule to ns, first writing defaults as the rules of
	// ns if it has none of its own. An existing id is ErrExists.
	CreateRule(ctx context.Context, ns string, r Rule, defaults []Rule, now time.Time) error
	// DeleteRule removes a rule of ns, first writing defaults as the rules
	// of ns if it has none of its own.
	DeleteRule(ctx context.Context, ns, id string, defaults []Rule, now time.Time) error

	// Keys returns the signing keys of ns, newest first.
	Keys(ctx context.Context, ns string) ([]Key, error)
	// CreateKey stores a signing key.
	CreateKey(ctx context.Context, k Key) error

	// Sweep deletes refresh tokens that expired by now or were used by
	// usedBefore, and returns how many.
	Sweep(ctx context.Context, now, usedBefore time.Time) (int, error)

	// DefaultCheck returns the last DefaultChecked: a secret hash and
	// whether it is the default admin password's; "" when there is none.
	DefaultCheck(ctx context.Context) (hash string, isDefault bool, err error)
	// DefaultChecked remembers whether hash is the default admin
	// password's, replacing what was remembered before.
	DefaultChecked(ctx context.Context, hash string, isDefault bool) error
}

// Errors a Backend returns.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrReused   = errors.New("refresh token reused")
)

// Account is an account as stored.
type Account struct {
	Namespace  string
	ID         string
	UID        string
	Type       string
	Name       string
	Scopes     []string
	Metadata   map[string]string
	SecretHash string
	Created    time.Time
	Updated    time.Time
}

// Refresh is a refresh token as stored: its hash, never the token.
type Refresh struct {
	Hash      []byte
	Namespace string
	AccountID string
	Family    string
	Created   time.Time
	Expires   time.Time
}

// Key is a signing key of a namespace: an Ed25519 seed.
type Key struct {
	Namespace string
	ID        string
	Seed      []byte
	Created   time.Time
}
