package auth

import (
	"errors"
	"strings"

	fauth "micro.dev/micro/framework/auth"
)

// The rules' vocabulary is the framework's (framework/auth), which
// services verify with too; these names keep the block's code short.
const (
	ScopePublic       = fauth.ScopePublic
	ScopeAccount      = fauth.ScopeAccount
	ScopeAnyNamespace = fauth.ScopeAnyNamespaceAccount

	Granted = fauth.Granted
	Denied  = fauth.Denied
)

type (
	Access   = fauth.Access
	Resource = fauth.Resource
	Rule     = fauth.Rule
)

// IDs of the rules every namespace starts with.
const (
	DefaultRuleID   = "default"
	AuthTokenRuleID = "auth-token"
)

// DefaultRules are the rules of a namespace until an admin changes them:
// everything is public (Micro's "default" rule), and so, on its own, is
// logging in (Auth.Token). The second rule is our addition: Micro's
// lockdown recipe deletes "default", and without it a namespace locked down
// with `--scope '*'` would let no one log in to get the account the scope
// asks for.
func DefaultRules() []Rule {
	return []Rule{
		{ID: DefaultRuleID, Scope: ScopePublic, Resource: Resource{Type: "*", Name: "*", Endpoint: "*"}, Access: Granted},
		{ID: AuthTokenRuleID, Scope: ScopePublic, Resource: Resource{Type: "service", Name: "auth", Endpoint: "Auth.Token"}, Access: Granted},
	}
}

// ErrForbidden is Verify's answer when the rules do not let a caller in.
var ErrForbidden = fauth.ErrForbidden

// Verify decides whether acc (nil: anonymous) may access res in namespace
// ns under rules: fauth.VerifyRules, Micro's algorithm.
func Verify(rules []Rule, acc *fauth.Account, res Resource, ns string) error {
	return fauth.VerifyRules(rules, acc, res, ns)
}

// ParseResource reads "type:name:endpoint" as the CLI writes a resource. The
// endpoint may itself contain ":" (a path); type and name may not.
func ParseResource(s string) (Resource, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Resource{}, errors.New("a resource is type:name:endpoint, e.g. service:helloworld:Helloworld.Call or *:*:*")
	}
	return Resource{Type: parts[0], Name: parts[1], Endpoint: parts[2]}, nil
}
