package auth

import (
	"context"
	"sync"
	"time"

	"micro.dev/micro/framework/client"
	pb "micro.dev/micro/proto/auth"
)

// RulesCache is how long Verify keeps a namespace's rules, as Micro's
// services did.
const RulesCache = 2 * time.Minute

// defaults are the KeySet and rules Inspect and Verify use, over the
// service's client (client.Default); a new default client starts afresh.
var defaults struct {
	mu    sync.Mutex
	c     client.Client
	keys  *KeySet
	rules map[string]cachedRules
}

type cachedRules struct {
	rules   []Rule
	fetched time.Time
}

func defaultClient() (client.Client, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	defaults.mu.Lock()
	defer defaults.mu.Unlock()
	if defaults.c != c {
		defaults.c, defaults.keys, defaults.rules = c, NewKeySet(c), map[string]cachedRules{}
	}
	return c, nil
}

// DefaultKeySet is the KeySet over the service's client, the one handlers'
// accounts and Inspect are verified with.
func DefaultKeySet() (*KeySet, error) {
	if _, err := defaultClient(); err != nil {
		return nil, err
	}
	defaults.mu.Lock()
	defer defaults.mu.Unlock()
	return defaults.keys, nil
}

// Inspect returns the account of an access token, as Micro's: verified in
// the service with its namespace's public keys (see KeySet), without a
// call per token. ErrInvalidToken for a forged, malformed or expired one.
func Inspect(token string) (*Account, error) {
	k, err := DefaultKeySet()
	if err != nil {
		return nil, err
	}
	return k.Account(context.Background(), token)
}

// VerifyOptions are the settings of one Verify.
type VerifyOptions struct {
	Context   context.Context
	Namespace string
}

// VerifyOption sets a VerifyOptions field.
type VerifyOption func(*VerifyOptions)

// VerifyContext sets the context of the rules' fetch.
func VerifyContext(ctx context.Context) VerifyOption {
	return func(o *VerifyOptions) { o.Context = ctx }
}

// VerifyNamespace verifies against namespace ns's rules instead of the
// service's.
func VerifyNamespace(ns string) VerifyOption {
	return func(o *VerifyOptions) { o.Namespace = ns }
}

// Verify decides whether acc (nil: anonymous) may access res under the
// rules of the service's namespace, as Micro's auth.Verify and as the
// proxy decides for calls: nil when granted, ErrForbidden when not. The rules are fetched with the service's
// credentials (Rules.List: a service administers its namespace) and kept
// for RulesCache.
func Verify(acc *Account, res *Resource, opts ...VerifyOption) error {
	o := VerifyOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := defaultClient()
	if err != nil {
		return err
	}
	if o.Namespace == "" {
		o.Namespace = client.NamespaceOf(c)
	}
	if res == nil {
		res = &Resource{}
	}
	rules, err := rulesOf(o.Context, c, o.Namespace)
	if err != nil {
		return err
	}
	if err := VerifyRules(rules, acc, *res, o.Namespace); err != nil {
		// ErrForbidden itself, so Micro's err == auth.ErrForbidden holds;
		// VerifyRules says which rule decided.
		return ErrForbidden
	}
	return nil
}

func rulesOf(ctx context.Context, c client.Client, ns string) ([]Rule, error) {
	defaults.mu.Lock()
	cached, ok := defaults.rules[ns]
	defaults.mu.Unlock()
	if ok && time.Since(cached.fetched) < RulesCache {
		return cached.rules, nil
	}
	rsp := new(pb.ListResponse)
	if err := c.Call(ctx, c.NewRequest("auth", "Rules.List", &pb.ListRequest{Options: &pb.Options{Namespace: ns}}), rsp); err != nil {
		return nil, err
	}
	rules := make([]Rule, 0, len(rsp.GetRules()))
	for _, r := range rsp.GetRules() {
		access := Granted
		if r.GetAccess() == pb.Access_DENIED {
			access = Denied
		}
		res := r.GetResource()
		rules = append(rules, Rule{ID: r.GetId(), Scope: r.GetScope(), Access: access, Priority: r.GetPriority(),
			Resource: Resource{Type: res.GetType(), Name: res.GetName(), Endpoint: res.GetEndpoint()}})
	}
	defaults.mu.Lock()
	if defaults.c == c {
		if len(defaults.rules) >= maxKeyNamespaces {
			clear(defaults.rules)
		}
		defaults.rules[ns] = cachedRules{rules: rules, fetched: time.Now()}
	}
	defaults.mu.Unlock()
	return rules, nil
}
