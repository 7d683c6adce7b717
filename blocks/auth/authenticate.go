package auth

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"

	grpcmd "google.golang.org/grpc/metadata"

	fauth "micro.dev/micro/framework/auth"
	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// bearerPrefix is the only Authorization scheme the doors accept.
const bearerPrefix = "Bearer "

// Authenticate is the check every call through the proxy meets (reference
// §4): it resolves the caller from the Authorization metadata ("Bearer
// <jwt>"), settles the namespace (micro-namespace metadata, else the
// token's issuer, else "micro") and writes it back into the incoming
// metadata, verifies resource service:<service>:<endpoint> against that
// namespace's rules, and returns ctx carrying the caller's account (see
// framework/auth.AccountFromContext) and clientAddr.
//
// Refusals are micro errors: 401 "invalid authorization header. expected
// Bearer schema", 401 for a token that is invalid, expired or revoked, 401
// "Unauthorized call made to S:E" for an anonymous caller the rules refuse,
// 403 "Forbidden call made to S:E by <id>" for an account they refuse.
//
// A call to Auth.Token ignores an unusable token, so that a stale token (an
// old cookie, say) never stands in the way of logging in again.
func (a *Auth) Authenticate(ctx context.Context, service, endpoint, clientAddr string) (context.Context, error) {
	acc, err := a.Identify(ctx, first(ctx, metadata.Authorization))
	if err != nil {
		if !(service == "auth" && endpoint == "Auth.Token" && merrors.Code(err) == 401) {
			return nil, err
		}
		acc = nil
	}
	given := grpcmd.ValueFromIncomingContext(ctx, metadata.Namespace)
	ns := ""
	if len(given) > 0 {
		ns = given[0]
	}
	if ns == "" && acc != nil {
		ns = acc.Issuer
	}
	if ns == "" {
		ns = metadata.DefaultNamespace
	}
	if len(given) != 1 || given[0] != ns {
		md, _ := grpcmd.FromIncomingContext(ctx) // a copy, ours to change
		md.Set(metadata.Namespace, ns)
		ctx = grpcmd.NewIncomingContext(ctx, md)
	}

	rules, err := a.rulesOf(ctx, ns)
	if err != nil {
		return nil, a.failed(ctx, "loading rules", err)
	}
	if why := Verify(rules, acc, Resource{Type: "service", Name: service, Endpoint: endpoint}, ns); why != nil {
		if acc != nil {
			// The reason names the deciding rule, so the caller knows
			// which one to look at; rules are not secret from the
			// accounts they govern.
			return nil, merrors.Forbidden(service, "Forbidden call made to %s:%s by %s (%s)", service, endpoint, acc.ID,
				strings.TrimPrefix(why.Error(), ErrForbidden.Error()+": "))
		}
		return nil, merrors.Unauthorized(service, "Unauthorized call made to %s:%s", service, endpoint)
	}
	if acc != nil {
		ctx = fauth.ContextWithAccount(ctx, acc)
	}
	return withClientAddr(ctx, clientAddr), nil
}

// Identify resolves the value of an Authorization header to the account
// that holds the token: nil for an empty header (anonymous), a 401 for a
// header that is not "Bearer <token>" or a token that is invalid, expired
// or revoked (its account deleted or its secret changed).
func (a *Auth) Identify(ctx context.Context, authorization string) (*fauth.Account, error) {
	if authorization == "" {
		return nil, nil
	}
	token, ok := strings.CutPrefix(authorization, bearerPrefix)
	if !ok {
		return nil, merrors.Unauthorized(errID, "invalid authorization header. expected Bearer schema")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil
	}
	return a.inspect(ctx, token)
}

// inspect checks an access token and returns its account. Only an access
// token: a credential or a refresh token is refused (fail closed), with a
// message saying to exchange it.
func (a *Auth) inspect(ctx context.Context, token string) (*fauth.Account, error) {
	if !looksLikeJWT(token) {
		return nil, merrors.Unauthorized(errID, "%s", fauth.ErrNotAccessToken.Error())
	}
	c, err := a.keys.parse(ctx, token)
	if err == nil {
		if c.AccessOnly() != nil {
			return nil, merrors.Unauthorized(errID, "%s", fauth.ErrNotAccessToken.Error())
		}
		err = a.checkLive(ctx, c)
	}
	if err != nil {
		return nil, a.tokenError(ctx, err)
	}
	// Copies: the claims are shared by every call with this token.
	return &fauth.Account{
		ID: c.Subject, Type: c.Type, Issuer: c.Issuer, Name: c.Name,
		Scopes: append([]string{}, c.Scopes...), Metadata: maps.Clone(nonNilMap(c.Metadata)),
	}, nil
}

// tokenError turns why a token was refused into the caller's answer.
func (a *Auth) tokenError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, errTokenExpired), errors.Is(err, errTokenInvalid), errors.Is(err, errTokenRevoked):
		return merrors.Unauthorized(errID, "%s", err.Error())
	}
	return a.failed(ctx, "checking a token", err)
}

func first(ctx context.Context, key string) string {
	if v := grpcmd.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// maxCached bounds the caches below; past it they start over.
const maxCached = 100_000

// liveCache remembers each account's current uid, so checking that a
// token's account still exists costs no query on the hot path. It is exact,
// not eventually right: every change of an account goes through this block,
// which forgets the entry after the change commits; the epoch keeps a
// lookup that raced with a change from caching what it read before it.
type liveCache struct {
	mu    sync.Mutex
	epoch uint64
	uids  map[string]string // namespace \x00 id -> uid
}

func cacheKey(ns, id string) string { return ns + "\x00" + id }

// checkLive reports errTokenRevoked unless the token's account exists with
// the uid the token was issued for.
func (a *Auth) checkLive(ctx context.Context, c *claims) error {
	key := cacheKey(c.Issuer, c.Subject)
	a.accounts.mu.Lock()
	uid, ok := a.accounts.uids[key]
	epoch := a.accounts.epoch
	a.accounts.mu.Unlock()
	// A uid other than the cached one is a token revoked, or one issued
	// after a change this node's cache has not heard of yet (made through
	// another node, whose notice the bucket's watch has not brought): the
	// backend, read from the stream's leader, tells which.
	if !ok || uid != c.UID {
		acc, err := a.backend.Account(ctx, c.Issuer, c.Subject)
		if errors.Is(err, ErrNotFound) {
			return errTokenRevoked
		}
		if err != nil {
			return err
		}
		uid = acc.UID
		a.accounts.mu.Lock()
		if a.accounts.epoch == epoch {
			if len(a.accounts.uids) >= maxCached {
				clear(a.accounts.uids)
			}
			a.accounts.uids[key] = uid
		}
		a.accounts.mu.Unlock()
	}
	if uid != c.UID {
		return errTokenRevoked
	}
	return nil
}

// forgetAccount drops an account from the cache; call it after a change to
// the account has committed.
func (a *Auth) forgetAccount(ns, id string) {
	a.accounts.mu.Lock()
	a.accounts.epoch++
	delete(a.accounts.uids, cacheKey(ns, id))
	a.accounts.mu.Unlock()
}

// rulesCache holds each namespace's rules, exact in the same way as
// liveCache.
type rulesCache struct {
	mu    sync.Mutex
	epoch uint64
	byNS  map[string]nsRules
}

type nsRules struct {
	rules []Rule
}

// rulesOf returns the rules of ns: its own, or the defaults when an admin
// never changed them.
func (a *Auth) rulesOf(ctx context.Context, ns string) ([]Rule, error) {
	a.rules.mu.Lock()
	r, ok := a.rules.byNS[ns]
	epoch := a.rules.epoch
	a.rules.mu.Unlock()
	if ok {
		return r.rules, nil
	}
	rules, own, err := a.backend.Rules(ctx, ns)
	if err != nil {
		return nil, err
	}
	if !own {
		rules = DefaultRules()
	}
	a.rules.mu.Lock()
	if a.rules.epoch == epoch {
		if len(a.rules.byNS) >= maxCached {
			clear(a.rules.byNS)
		}
		a.rules.byNS[ns] = nsRules{rules: rules}
	}
	a.rules.mu.Unlock()
	return rules, nil
}

// forgetRules drops a namespace's rules from the cache after a change.
func (a *Auth) forgetRules(ns string) {
	a.rules.mu.Lock()
	a.rules.epoch++
	delete(a.rules.byNS, ns)
	a.rules.mu.Unlock()
}

type clientAddrKey struct{}

// withClientAddr returns ctx carrying the address the call came from.
func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddr is the address the call in ctx came from, as the door that
// took it saw it; "" when unknown.
func clientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
