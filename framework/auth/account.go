// Package auth holds the identity of a call: the Account that made it, how
// it travels in a context, and the namespace checks every block applies,
// Micro's. The auth block issues accounts and
// tokens; the proxy and the gateway resolve the caller and put its Account
// into the context the handlers see.
package auth

import (
	"context"
	"slices"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// Account types.
const (
	TypeUser    = "user"
	TypeService = "service"
)

// Well-known scopes.
const (
	ScopeAdmin   = "admin"
	ScopeService = "service"
)

// Account is an identity in a namespace (its Issuer).
type Account struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Issuer   string            `json:"issuer"`
	Name     string            `json:"name"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`
	// Secret is set only where an account is generated, as in Micro.
	Secret string `json:"secret,omitempty"`
}

// HasScope reports whether a holds scope.
func (a *Account) HasScope(scope string) bool {
	return a != nil && slices.Contains(a.Scopes, scope)
}

// IsAdmin reports whether a may administer its namespace: a user with the
// admin scope or a service with the service scope.
func (a *Account) IsAdmin() bool {
	if a == nil {
		return false
	}
	return (a.Type == TypeUser && a.HasScope(ScopeAdmin)) || (a.Type == TypeService && a.HasScope(ScopeService))
}

type accountKey struct{}

// ContextWithAccount returns ctx carrying acc as the caller.
func ContextWithAccount(ctx context.Context, acc *Account) context.Context {
	return context.WithValue(ctx, accountKey{}, acc)
}

// AccountFromContext returns the caller of the call in ctx, if known.
func AccountFromContext(ctx context.Context) (*Account, bool) {
	acc, ok := ctx.Value(accountKey{}).(*Account)
	return acc, ok && acc != nil
}

// Authorize checks that the caller in ctx may act on namespace ns: an
// administrator of the micro namespace may act anywhere, anyone else only in
// the namespace that issued their account.
func Authorize(ctx context.Context, ns string) error {
	acc, ok := AccountFromContext(ctx)
	if !ok {
		return errors.Unauthorized("micro", "an account is required")
	}
	if acc.Issuer == metadata.DefaultNamespace && acc.IsAdmin() {
		return nil
	}
	if acc.Issuer != ns {
		return errors.Forbidden("micro", "access denied to namespace %s", ns)
	}
	if acc.Type != TypeUser && acc.Type != TypeService {
		return errors.Forbidden("micro", "accounts of type %q cannot act on namespace %s", acc.Type, ns)
	}
	return nil
}

// AuthorizeAdmin is Authorize plus the caller must administer ns.
func AuthorizeAdmin(ctx context.Context, ns string) error {
	if err := Authorize(ctx, ns); err != nil {
		return err
	}
	if acc, _ := AccountFromContext(ctx); !acc.IsAdmin() {
		return errors.Forbidden("micro", "admin access to namespace %s is required", ns)
	}
	return nil
}
