package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Rule scopes with a meaning of their own, Micro's; any other scope names
// one an account must hold.
const (
	// ScopePublic lets anyone in, anonymous callers included.
	ScopePublic = ""
	// ScopeAccount lets in any account of the namespace.
	ScopeAccount = "*"
	// ScopeAnyNamespaceAccount lets in any account of any namespace.
	ScopeAnyNamespaceAccount = "+"
)

// Access is what a rule decides.
type Access string

// The two decisions a rule can make.
const (
	Granted Access = "granted"
	Denied  Access = "denied"
)

// Resource is what a call touches: for RPCs {type "service", name the
// service, endpoint "Handler.Method"}. "*" in a rule matches anything.
type Resource struct {
	Type, Name, Endpoint string
}

// String is the resource as the CLI writes it: type:name:endpoint.
func (r Resource) String() string { return r.Type + ":" + r.Name + ":" + r.Endpoint }

// Rule grants or denies callers holding Scope access to Resource; rules
// with a higher Priority are checked first.
type Rule struct {
	ID       string
	Scope    string
	Resource Resource
	Access   Access
	Priority int32
}

// ErrForbidden is VerifyRules' answer when the rules do not let a caller in.
var ErrForbidden = errors.New("forbidden")

// VerifyRules decides whether acc (nil: anonymous) may access res in namespace
// ns under rules, exactly as Micro does:
//
//   - keep the rules whose type, name and endpoint match res (equal or "*",
//     case-insensitively; an endpoint that is a path also matches its
//     prefix wildcards "/a/*", "/a/b/*");
//   - walk them by priority, highest first (ties in the given order);
//   - a public rule decides for anyone; the others are skipped for an
//     anonymous caller; a rule other than "+" forbids an account issued by
//     another namespace; "*" and "+" decide for any account; any other
//     scope decides for an account holding it;
//   - nothing decided: forbidden.
//
// It returns nil when access is granted, and when not an error wrapping
// ErrForbidden that says why (the rule that denied, or that none granted),
// so a refused caller can tell which rule to look at.
func VerifyRules(rules []Rule, acc *Account, res Resource, ns string) error {
	validTypes := []string{"*", res.Type}
	validNames := []string{"*", res.Name}
	validEndpoints := []string{"*", res.Endpoint}
	if comps := strings.Split(res.Endpoint, "/"); len(comps) > 1 {
		for i := 1; i <= len(comps); i++ {
			validEndpoints = append(validEndpoints, strings.Join(comps[:i], "/")+"/*")
		}
	}

	var matched []Rule
	for _, r := range rules {
		if includes(validTypes, r.Resource.Type) && includes(validNames, r.Resource.Name) && includes(validEndpoints, r.Resource.Endpoint) {
			matched = append(matched, r)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return matched[i].Priority > matched[j].Priority })

	for _, r := range matched {
		if r.Scope == ScopePublic {
			return decide(r)
		}
		if acc == nil {
			continue
		}
		if r.Scope != ScopeAnyNamespaceAccount && acc.Issuer != ns {
			return fmt.Errorf("%w: rule %q admits only accounts of namespace %s", ErrForbidden, r.ID, ns)
		}
		if r.Scope == ScopeAccount || r.Scope == ScopeAnyNamespaceAccount {
			return decide(r)
		}
		if acc.HasScope(r.Scope) {
			return decide(r)
		}
	}
	return fmt.Errorf("%w: no rule grants it", ErrForbidden)
}

// decide is a matching rule's answer. A rule with neither access decides
// nothing; Create refuses such rules, so it cannot be stored.
func decide(r Rule) error {
	if r.Access == Granted {
		return nil
	}
	return fmt.Errorf("%w: denied by rule %q", ErrForbidden, r.ID)
}

func includes(set []string, v string) bool {
	for _, s := range set {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
