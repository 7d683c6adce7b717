package auth

import (
	"errors"
	"strings"
	"testing"

	fauth "micro.dev/micro/framework/auth"
)

func TestVerify(t *testing.T) {
	var (
		anon    *fauth.Account
		user    = &fauth.Account{ID: "u", Type: "user", Issuer: "acme"}
		admin   = &fauth.Account{ID: "a", Type: "user", Issuer: "acme", Scopes: []string{"admin"}}
		foreign = &fauth.Account{ID: "f", Type: "user", Issuer: "other", Scopes: []string{"admin"}}
		call    = Resource{Type: "service", Name: "helloworld", Endpoint: "Helloworld.Call"}
		web     = Resource{Type: "web", Name: "dashboard", Endpoint: "/foo/bar"}
		rule    = func(id, scope, res string, access Access, prio int32) Rule {
			r, _ := ParseResource(res)
			return Rule{ID: id, Scope: scope, Resource: r, Access: access, Priority: prio}
		}
		pub       = rule("pub", ScopePublic, "*:*:*", Granted, 0)
		pubDeny   = rule("pubdeny", ScopePublic, "*:*:*", Denied, 0)
		anyAcc    = rule("acc", ScopeAccount, "*:*:*", Granted, 0)
		anyNS     = rule("anyns", ScopeAnyNamespace, "*:*:*", Granted, 0)
		adminOnly = rule("admin", "admin", "*:*:*", Granted, 0)
	)
	cases := []struct {
		name  string
		rules []Rule
		acc   *fauth.Account
		res   Resource
		ok    bool
	}{
		{"no rules: denied", nil, admin, call, false},
		{"public grants anonymous", []Rule{pub}, anon, call, true},
		{"public grants an account", []Rule{pub}, user, call, true},
		{"public grants a foreign account", []Rule{pub}, foreign, call, true},
		{"public deny refuses everyone", []Rule{pubDeny}, admin, call, false},

		{"* refuses anonymous", []Rule{anyAcc}, anon, call, false},
		{"* grants an account of the namespace", []Rule{anyAcc}, user, call, true},
		{"* refuses an account of another namespace", []Rule{anyAcc}, foreign, call, false},

		{"+ refuses anonymous", []Rule{anyNS}, anon, call, false},
		{"+ grants an account of the namespace", []Rule{anyNS}, user, call, true},
		{"+ grants an account of another namespace", []Rule{anyNS}, foreign, call, true},

		{"scope refuses anonymous", []Rule{adminOnly}, anon, call, false},
		{"scope refuses an account without it", []Rule{adminOnly}, user, call, false},
		{"scope grants an account holding it", []Rule{adminOnly}, admin, call, true},
		{"scope refuses a foreign account holding it", []Rule{adminOnly}, foreign, call, false},

		{"higher priority deny wins", []Rule{pub, rule("d", ScopeAccount, "*:*:*", Denied, 5)}, user, call, false},
		{"higher priority grant wins", []Rule{rule("d", ScopeAccount, "*:*:*", Denied, 0), rule("g", "admin", "*:*:*", Granted, 5)}, admin, call, true},
		{"a scope rule that does not apply falls through", []Rule{rule("g", "admin", "*:*:*", Granted, 5), pub}, user, call, true},
		{"anonymous skips account rules to reach public", []Rule{rule("d", ScopeAccount, "*:*:*", Denied, 9), pub}, anon, call, true},
		{"same priority: given order", []Rule{rule("a", ScopeAccount, "*:*:*", Denied, 1), rule("b", ScopeAccount, "*:*:*", Granted, 1)}, user, call, false},
		{"negative priority comes last", []Rule{rule("n", ScopePublic, "*:*:*", Denied, -1), anyAcc}, user, call, true},

		{"exact resource", []Rule{rule("r", ScopePublic, "service:helloworld:Helloworld.Call", Granted, 0)}, anon, call, true},
		{"case-insensitive", []Rule{rule("r", ScopePublic, "SERVICE:HelloWorld:helloworld.call", Granted, 0)}, anon, call, true},
		{"other endpoint does not match", []Rule{rule("r", ScopePublic, "service:helloworld:Helloworld.Stream", Granted, 0)}, anon, call, false},
		{"other service does not match", []Rule{rule("r", ScopePublic, "service:store:*", Granted, 0)}, anon, call, false},
		{"other type does not match", []Rule{rule("r", ScopePublic, "web:*:*", Granted, 0)}, anon, call, false},
		{"service wildcard endpoint", []Rule{rule("r", ScopePublic, "service:helloworld:*", Granted, 0)}, anon, call, true},
		{"path prefix wildcard", []Rule{rule("r", ScopePublic, "web:dashboard:/foo/*", Granted, 0)}, anon, web, true},
		{"root path wildcard", []Rule{rule("r", ScopePublic, "web:dashboard:/*", Granted, 0)}, anon, web, true},
		{"other path prefix", []Rule{rule("r", ScopePublic, "web:dashboard:/baz/*", Granted, 0)}, anon, web, false},

		{"the defaults let anyone in", DefaultRules(), anon, call, true},
		{"lockdown refuses anonymous", lockdown(), anon, call, false},
		{"lockdown grants the namespace's accounts", lockdown(), user, call, true},
		{"lockdown refuses other namespaces", lockdown(), foreign, call, false},
		{"lockdown keeps login public", lockdown(), anon, Resource{Type: "service", Name: "auth", Endpoint: "Auth.Token"}, true},
	}
	for _, c := range cases {
		err := Verify(c.rules, c.acc, c.res, "acme")
		if (err == nil) != c.ok {
			t.Errorf("%s: Verify = %v, want granted=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: error %v is not ErrForbidden", c.name, err)
		}
	}
}

// lockdown is Micro's recipe applied to the defaults: a "*" rule and
// "default" deleted, leaving our public Auth.Token rule.
func lockdown() []Rule {
	rules := []Rule{{ID: "lockdown", Scope: ScopeAccount, Resource: Resource{Type: "*", Name: "*", Endpoint: "*"}, Access: Granted, Priority: 1}}
	for _, r := range DefaultRules() {
		if r.ID != DefaultRuleID {
			rules = append(rules, r)
		}
	}
	return rules
}

func TestParseResource(t *testing.T) {
	r, err := ParseResource("web:dashboard:/a:b")
	if err != nil || r != (Resource{Type: "web", Name: "dashboard", Endpoint: "/a:b"}) {
		t.Fatalf("got %v %v", r, err)
	}
	for _, bad := range []string{"", "service", "service:x", "service::x", ":x:y", "a:b:"} {
		if _, err := ParseResource(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestVerifySaysWhy checks a refusal names the rule that denied, or says
// none granted: the 403 a caller sees carries it.
func TestVerifySaysWhy(t *testing.T) {
	acc := &fauth.Account{ID: "u", Type: "user", Issuer: "micro"}
	res := Resource{Type: "service", Name: "store", Endpoint: "Store.Read"}
	deny := Rule{ID: "no-store", Scope: ScopeAccount, Resource: Resource{Type: "service", Name: "store", Endpoint: "*"}, Access: Denied}
	if err := Verify([]Rule{deny}, acc, res, "micro"); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `denied by rule "no-store"`) {
		t.Errorf("denied by a rule: %v", err)
	}
	if err := Verify(nil, acc, res, "micro"); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "no rule grants it") {
		t.Errorf("no rule: %v", err)
	}
	if err := Verify([]Rule{deny}, &fauth.Account{ID: "x", Issuer: "acme"}, res, "micro"); !errors.Is(err, ErrForbidden) ||
		!strings.Contains(err.Error(), `rule "no-store" admits only accounts of namespace micro`) {
		t.Errorf("other namespace: %v", err)
	}
}
