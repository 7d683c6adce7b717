package auth

import (
	"context"
	"testing"

	"micro.dev/micro/framework/errors"
)

// A block built without an authorizer refuses every call: its checks, and
// its public calls too.
func TestNilAuthorizerRefuses(t *testing.T) {
	admin := ContextWithAccount(context.Background(), &Account{ID: "admin", Type: TypeUser, Issuer: "micro", Scopes: []string{ScopeAdmin}})
	var none Authorizer
	for _, c := range []struct {
		what string
		err  error
	}{
		{"check", none.Check(admin, "micro", false)},
		{"admin check", none.Check(admin, "micro", true)},
		{"public", none.Public()},
	} {
		if errors.Code(c.err) != 403 {
			t.Errorf("%s without an authorizer: %v, want a 403", c.what, c.err)
		}
	}
	var rule Authorizer = Namespaces
	if err := rule.Check(admin, "acme", true); err != nil {
		t.Errorf("the admin of micro on acme: %v", err)
	}
	if err := rule.Public(); err != nil {
		t.Errorf("public: %v", err)
	}
	user := ContextWithAccount(context.Background(), &Account{ID: "u", Type: TypeUser, Issuer: "acme"})
	if err := rule.Check(user, "acme", false); err != nil {
		t.Errorf("a user of acme on acme: %v", err)
	}
	if got := errors.Code(rule.Check(user, "acme", true)); got != 403 {
		t.Errorf("a user of acme administering acme: code %d", got)
	}
	if got := errors.Code(rule.Check(context.Background(), "acme", false)); got != 401 {
		t.Errorf("anonymous on acme: code %d", got)
	}
}
