package auth

import (
	"context"

	"micro.dev/micro/framework/errors"
)

// Authorizer decides whether the caller in ctx may act on namespace: use
// it, or, when admin is true, administer it. A non-nil error (a micro 401
// or 403) answers the call. Every block is built with one and asks it
// through Check or Public, never by calling it directly: a block built
// without one then refuses every call instead of allowing it.
type Authorizer func(ctx context.Context, namespace string, admin bool) error

// Check asks a whether the caller in ctx may act on namespace (admin: may
// administer it). A nil Authorizer refuses.
func (a Authorizer) Check(ctx context.Context, namespace string, admin bool) error {
	if a == nil {
		return errNoAuthorizer()
	}
	return a(ctx, namespace, admin)
}

// Public is the check of a call anyone may make: it passes unless a is
// nil, so that a block built without an authorizer stays closed even where
// its own rules are open.
func (a Authorizer) Public() error {
	if a == nil {
		return errNoAuthorizer()
	}
	return nil
}

func errNoAuthorizer() error {
	return errors.Forbidden("micro", "access denied: this service was started without an authorizer, so it refuses every call")
}

// Namespaces is Micro's rule as an Authorizer: Authorize, or AuthorizeAdmin
// when admin is true.
func Namespaces(ctx context.Context, namespace string, admin bool) error {
	if admin {
		return AuthorizeAdmin(ctx, namespace)
	}
	return Authorize(ctx, namespace)
}
