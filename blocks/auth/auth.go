// Package auth is the auth block: accounts, tokens and access rules, per
// namespace. It serves Micro's auth.Auth (Generate,
// Inspect, Token), auth.Accounts (List, Delete, ChangeSecret) and
// auth.Rules (Create, Delete, List), and it is the Authenticator the proxy
// puts in front of every call: who is calling (Bearer JWT), in which
// namespace, and whether the rules let them in.
//
// Auth holds the block's rules: secrets hashed with argon2id, JWTs signed
// with a per-namespace Ed25519 key, refresh tokens that rotate on use, the
// rules verifier, login rate limits, and the default admin. Persistence sits
// below it behind Backend; the one backend today keeps everything in the
// micro SQLite file.
package auth

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/auth"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the auth block's schema; pass it to schema.Open.
var Migrations = schema.Embedded("auth", migrationFiles)

// The default admin: an account "admin" in namespace "micro" only, made at
// the first start with DefaultAdminPassword unless WithAdminPassword says
// otherwise.
const (
	AdminID              = "admin"
	DefaultAdminPassword = "micro"
)

// Token lifetimes.
const (
	// DefaultTokenExpiry is an access token's lifetime when the request
	// names none.
	DefaultTokenExpiry = 15 * time.Minute
	// MaxTokenExpiry caps the lifetime a request may ask for; longer
	// sessions refresh.
	MaxTokenExpiry = 24 * time.Hour
	// RefreshTokenExpiry is how long an unused refresh token lives. Each
	// use issues a new one with a fresh lifetime.
	RefreshTokenExpiry = 30 * 24 * time.Hour
	// CredentialExpiry is the lifetime of a service secret minted by
	// MintServiceAccount.
	CredentialExpiry = 365 * 24 * time.Hour
	// usedRefreshKept is how long a used refresh token is kept to detect
	// its reuse.
	usedRefreshKept = 24 * time.Hour
)

// DefaultSweepInterval is how often expired refresh tokens are deleted.
const DefaultSweepInterval = time.Hour

const errID = "auth"

// Auth is the auth block.
type Auth struct {
	backend       Backend
	authz         fauth.Authorizer
	keys          *keyring
	limits        *loginLimiter
	now           func() time.Time
	log           *slog.Logger
	adminPassword string
	interval      time.Duration

	// js and replicas are WithJetStream's: the state lives in a JetStream
	// bucket shared by the nodes of a cluster.
	js       jetstream.JetStream
	replicas int

	accounts liveCache
	rules    rulesCache

	// defaultPassword is whether micro/admin still has the password
	// "micro"; GET / reports it.
	defaultPassword atomic.Bool

	ctx     context.Context
	cancel  context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup
}

// Option configures New.
type Option func(*Auth)

// WithClock replaces time.Now for token lifetimes and rate limits, so tests
// can move time instead of sleeping.
func WithClock(now func() time.Time) Option { return func(a *Auth) { a.now = now } }

// WithLogger sets where the block logs; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(a *Auth) { a.log = l } }

// WithAdminPassword sets the default admin's password at the first start
// (and replaces the default password "micro" on a later start if the admin
// still has it).
func WithAdminPassword(pw string) Option { return func(a *Auth) { a.adminPassword = pw } }

// WithLoginLimits replaces the login rate limits per account and per
// client address.
func WithLoginLimits(account, address Limit) Option {
	return func(a *Auth) { a.limits = newLoginLimiter(account, address, func() time.Time { return a.now() }) }
}

// WithSweepInterval sets how often expired refresh tokens are deleted.
func WithSweepInterval(d time.Duration) Option { return func(a *Auth) { a.interval = d } }

// New returns the auth block on db, which must have been opened with
// Migrations. authz decides who may manage a namespace's accounts and
// rules; nil refuses every call, logins included. Call Start before
// serving.
// With WithJetStream the state lives in the cluster's JetStream instead
// of db.
func New(db *schema.DB, authz fauth.Authorizer, opts ...Option) *Auth {
	a := configure(authz, opts)
	if a.js != nil {
		b := newJetStream(a.js, a.replicas, a.log)
		b.changed = a.changedElsewhere
		return a.init(b)
	}
	return a.init(newSQLite(db))
}

// NewWithBackend returns the auth block on backend b.
func NewWithBackend(b Backend, authz fauth.Authorizer, opts ...Option) *Auth {
	return configure(authz, opts).init(b)
}

func configure(authz fauth.Authorizer, opts []Option) *Auth {
	a := &Auth{authz: authz, now: time.Now, log: slog.Default(), interval: DefaultSweepInterval}
	for _, o := range opts {
		o(a)
	}
	return a
}

func (a *Auth) init(b Backend) *Auth {
	a.backend = b
	clock := func() time.Time { return a.now() }
	if a.limits == nil {
		a.limits = newLoginLimiter(
			Limit{Burst: DefaultAccountBurst, Interval: DefaultAccountInterval},
			Limit{Burst: DefaultAddressBurst, Interval: DefaultAddressInterval}, clock)
	}
	if a.interval <= 0 {
		a.interval = DefaultSweepInterval
	}
	a.keys = newKeyring(b, clock)
	a.accounts.uids = map[string]string{}
	a.rules.byNS = map[string]nsRules{}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a
}

// Register serves auth.Auth, auth.Accounts and auth.Rules on gs.
func (a *Auth) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterAuthServer(gs, authServer{a: a})
	pb.RegisterAccountsServer(gs, accountsServer{a: a})
	pb.RegisterRulesServer(gs, rulesServer{a: a})
}

// Start does the first start if the database has not seen one (a signing
// key for namespace micro and the default admin), applies the admin
// password, and runs the sweeper until Close.
func (a *Auth) Start(ctx context.Context) error {
	if err := a.bootstrap(ctx); err != nil {
		return err
	}
	a.started.Do(func() { a.wg.Go(a.sweepLoop) })
	return nil
}

func (a *Auth) bootstrap(ctx context.Context) error {
	pw := a.adminPassword
	if pw == "" {
		pw = DefaultAdminPassword
	}
	// The admin's hash matters only to a first start (or a new
	// --admin-password); a restart would spend argon2id's time and 19 MiB
	// for nothing, so it passes the stored hash, which Bootstrap ignores
	// or stores as it is. Any doubt (an error reading) hashes as before.
	var hash string
	hashedPw := false // hash is pw's, made here
	if stored, err := a.backend.Account(ctx, metadata.DefaultNamespace, AdminID); err == nil && a.adminPassword == "" {
		hash = stored.SecretHash
	} else if hash, err = hashSecret(pw); err != nil {
		return err
	} else {
		hashedPw = true
	}
	now := a.now()
	admin := Account{
		Namespace: metadata.DefaultNamespace, ID: AdminID, UID: newUID(), Type: fauth.TypeUser, Name: AdminID,
		Scopes: []string{fauth.ScopeAdmin}, SecretHash: hash, Created: now, Updated: now,
	}
	first, err := a.backend.Bootstrap(ctx, generateKey(metadata.DefaultNamespace, now), admin)
	if err != nil {
		return err
	}
	if first {
		a.log.Info("auth: first start: created the signing key and the admin account", "namespace", admin.Namespace, "account", AdminID)
	}
	stored, err := a.backend.Account(ctx, metadata.DefaultNamespace, AdminID)
	switch {
	case errors.Is(err, ErrNotFound):
		a.defaultPassword.Store(false)
		return nil
	case err != nil:
		return err
	}
	var isDefault bool
	if hashedPw && stored.SecretHash == hash {
		isDefault = pw == DefaultAdminPassword
		a.defaultChecked(ctx, hash, isDefault)
	} else {
		isDefault = a.isDefaultSecret(ctx, stored.SecretHash)
	}
	if isDefault && a.adminPassword != "" && a.adminPassword != DefaultAdminPassword {
		// The admin never changed the default; the operator now gives one.
		if err := a.backend.SetSecret(ctx, stored.Namespace, stored.ID, hash, newUID(), now); err != nil {
			return err
		}
		a.log.Info("auth: set the admin password from --admin-password")
		a.defaultChecked(ctx, hash, false)
		isDefault = false
	} else if !first && a.adminPassword != "" && !isDefault {
		a.log.Info("auth: --admin-password ignored: the admin password was already changed; use 'micro user set password'")
	}
	// The node warns at start while it is (node/warnings.go).
	a.defaultPassword.Store(isDefault)
	return nil
}

// isDefaultSecret reports whether the admin's secret hash is the default
// password's. Checking costs argon2id's 19 MiB and most of a restart's
// CPU, so the answer is remembered with the hash it was found for
// (Backend.DefaultChecked), and a restart only compares strings: the hash
// carries its salt, so an equal string is the same secret. A hash not
// seen before (a secret changed elsewhere, a database from before) is
// checked once.
func (a *Auth) isDefaultSecret(ctx context.Context, hash string) bool {
	if known, isDefault, err := a.backend.DefaultCheck(ctx); err == nil && known != "" && known == hash {
		return isDefault
	}
	isDefault, _ := checkSecret(hash, DefaultAdminPassword)
	a.defaultChecked(ctx, hash, isDefault)
	return isDefault
}

// defaultChecked remembers isDefault for hash. Failing to (a full disk)
// costs only a check at the next start, so it does not stop this one.
func (a *Auth) defaultChecked(ctx context.Context, hash string, isDefault bool) {
	if err := a.backend.DefaultChecked(ctx, hash, isDefault); err != nil {
		a.log.Debug("auth: could not remember the admin secret's check; the next start checks again", "err", err)
	}
}

// DefaultPasswordInUse reports whether the default admin (micro/admin)
// still has the password "micro".
func (a *Auth) DefaultPasswordInUse() bool { return a.defaultPassword.Load() }

// EndStreams does nothing: auth serves no long-lived streams.
func (a *Auth) EndStreams() {}

// Close stops the sweeper and waits for it; close the block before the
// database. The error is always nil: Close is an io.Closer.
func (a *Auth) Close() error {
	a.cancel()
	a.wg.Wait()
	if b, ok := a.backend.(*jsBackend); ok {
		return b.Close()
	}
	return nil
}

// changedElsewhere makes the caches forget what a write through any node
// of a cluster changed: the accounts ("acc") or rules ("rules") of ns, or
// everything (kind "") when changes may have been missed. Entries are
// forgotten as the change reaches this node, which is also when a read
// here would first see it.
func (a *Auth) changedElsewhere(kind, ns string) {
	if kind == "" || kind == "acc" {
		a.accounts.mu.Lock()
		a.accounts.epoch++
		clear(a.accounts.uids)
		a.accounts.mu.Unlock()
	}
	if kind == "" || kind == "rules" {
		a.rules.mu.Lock()
		a.rules.epoch++
		if kind == "" {
			clear(a.rules.byNS)
		} else {
			delete(a.rules.byNS, ns)
		}
		a.rules.mu.Unlock()
	}
}

// Sweep deletes expired refresh tokens, and used ones kept past
// usedRefreshKept, now; the sweeper calls it every interval. It frees
// space, so it runs on a full disk too (schema.Freeing).
func (a *Auth) Sweep(ctx context.Context) (int, error) {
	now := a.now()
	return a.backend.Sweep(schema.Freeing(ctx), now, now.Add(-usedRefreshKept))
}

func (a *Auth) sweepLoop() {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			n, err := a.Sweep(a.ctx)
			switch {
			case err != nil && a.ctx.Err() == nil:
				a.log.Warn("auth: sweeping refresh tokens failed", "err", err)
			case n > 0:
				a.log.Debug("auth: swept refresh tokens", "deleted", n)
			}
		}
	}
}

// newUID returns a fresh account generation id.
func newUID() string { return randomToken(16) }

// MintServiceAccount returns credentials for the service account name in
// namespace ns, creating the account (type "service", scope "service") if
// it does not exist. The secret is a JWT valid for CredentialExpiry that
// Auth.Token accepts in place of a password (in Micro, "a service's
// secret may be a JWT"); the runtime hands id and secret to the services it
// starts as MICRO_AUTH_ID and MICRO_AUTH_SECRET. Minting again for a running
// account leaves earlier secrets valid, so an old process keeps working
// while its replacement starts; deleting the account revokes them all.
func (a *Auth) MintServiceAccount(ctx context.Context, ns, name string) (id, secret string, err error) {
	if err := checkNamespace(ns); err != nil {
		return "", "", err
	}
	if err := checkID("name", name); err != nil {
		return "", "", err
	}
	acc, err := a.backend.Account(ctx, ns, name)
	if errors.Is(err, ErrNotFound) {
		now := a.now()
		acc = Account{
			Namespace: ns, ID: name, UID: newUID(), Type: fauth.TypeService, Name: name,
			Scopes: []string{fauth.ScopeService}, SecretHash: noSecret, Created: now, Updated: now,
		}
		err = a.backend.CreateAccount(ctx, acc)
		if errors.Is(err, ErrExists) {
			acc, err = a.backend.Account(ctx, ns, name)
		}
	}
	if err != nil {
		return "", "", a.failed(ctx, "minting a service account", err)
	}
	if acc.Type != fauth.TypeService {
		return "", "", conflict("account %s in namespace %s exists and is not a service account", name, ns)
	}
	secret, _, err = a.keys.sign(ctx, acc, CredentialExpiry, useCredential)
	if err != nil {
		return "", "", a.failed(ctx, "signing a service secret", err)
	}
	return acc.ID, secret, nil
}

// noSecret is the hash of an account that has no password (a service
// account minted with a JWT secret): it never matches.
const noSecret = "!"
