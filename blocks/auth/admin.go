package auth

import (
	"context"
	"errors"
	"sort"
	"strings"
	"unicode"

	fauth "micro.dev/micro/framework/auth"
	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/auth"
	"micro.dev/micro/schema"
)

// accountsServer serves auth.Accounts. Every method acts on the namespace
// of options.namespace, else the call's.
type accountsServer struct {
	pb.UnimplementedAccountsServer
	a *Auth
}

// List returns the accounts of the namespace, without secrets; the caller
// must administer it.
func (s accountsServer) List(ctx context.Context, req *pb.ListAccountsRequest) (*pb.ListAccountsResponse, error) {
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	accs, err := s.a.backend.Accounts(ctx, ns)
	if err != nil {
		return nil, s.a.failed(ctx, "listing accounts", err)
	}
	rsp := &pb.ListAccountsResponse{Accounts: make([]*pb.Account, len(accs))}
	for i, acc := range accs {
		rsp.Accounts[i] = toProto(acc)
	}
	return rsp, nil
}

// Delete removes an account, its refresh tokens and with them every token
// issued for it; the caller must administer the namespace and cannot
// delete themselves.
func (s accountsServer) Delete(ctx context.Context, req *pb.DeleteAccountRequest) (*pb.DeleteAccountResponse, error) {
	a := s.a
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" {
		return nil, badRequest("id is required")
	}
	if caller, _ := fauth.AccountFromContext(ctx); caller.Issuer == ns && caller.ID == id {
		return nil, badRequest("you cannot delete your own account")
	}
	switch err := a.backend.DeleteAccount(schema.Freeing(ctx), ns, id); {
	case errors.Is(err, ErrNotFound):
		return nil, merrors.NotFound(errID, "account %s not found in namespace %s", id, ns)
	case err != nil:
		return nil, a.failed(ctx, "deleting an account", err)
	}
	a.forgetAccount(ns, id)
	if ns == metadata.DefaultNamespace && id == AdminID {
		a.defaultPassword.Store(false)
	}
	return &pb.DeleteAccountResponse{}, nil
}

// ChangeSecret sets an account's secret and revokes every token issued for
// it. An administrator of the namespace may set anyone's; any other account
// of the namespace must give the current secret, a guess that counts
// against the login rate limits.
func (s accountsServer) ChangeSecret(ctx context.Context, req *pb.ChangeSecretRequest) (*pb.ChangeSecretResponse, error) {
	a := s.a
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, false); err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" {
		return nil, badRequest("id is required")
	}
	if req.GetNewSecret() == "" {
		return nil, badRequest("new_secret is required")
	}
	if err := checkSecretSize(req.GetNewSecret()); err != nil {
		return nil, err
	}
	if s.a.authz.Check(ctx, ns, true) != nil {
		done, wait, err := a.limits.attempt(ctx, cacheKey(ns, id), clientAddr(ctx))
		if err != nil {
			return nil, merrors.FromError(err, errID)
		}
		if wait > 0 {
			return nil, merrors.TooManyRequests(errID, "too many failed attempts; try again in %ds", int64(wait.Seconds())+1)
		}
		acc, err := a.backend.Account(ctx, ns, id)
		hash := acc.SecretHash
		if errors.Is(err, ErrNotFound) {
			hash = dummyHash()
		} else if err != nil {
			done(false)
			return nil, a.failed(ctx, "loading an account", err)
		}
		ok, _ := checkSecret(hash, req.GetOldSecret())
		ok = ok && err == nil
		done(ok)
		if !ok {
			return nil, merrors.Unauthorized(errID, "invalid account id or old secret")
		}
		if err := checkDefaultPassword(ctx, ns, acc.ID, req.GetOldSecret()); err != nil {
			return nil, err
		}
	}
	hash, err := hashSecret(req.GetNewSecret())
	if err != nil {
		return nil, a.failed(ctx, "hashing a secret", err)
	}
	switch err := a.backend.SetSecret(ctx, ns, id, hash, newUID(), a.now()); {
	case errors.Is(err, ErrNotFound):
		return nil, merrors.NotFound(errID, "account %s not found in namespace %s", id, ns)
	case err != nil:
		return nil, a.failed(ctx, "changing a secret", err)
	}
	a.forgetAccount(ns, id)
	if ns == metadata.DefaultNamespace && id == AdminID {
		a.defaultPassword.Store(req.GetNewSecret() == DefaultAdminPassword)
		a.defaultChecked(ctx, hash, req.GetNewSecret() == DefaultAdminPassword)
	}
	return &pb.ChangeSecretResponse{}, nil
}

// rulesServer serves auth.Rules. Every method acts on the namespace of
// options.namespace, else the call's, and needs its administrator.
type rulesServer struct {
	pb.UnimplementedRulesServer
	a *Auth
}

// Create adds a rule. A rule id already in use is a 409.
func (s rulesServer) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateResponse, error) {
	a := s.a
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	r, err := fromProtoRule(req.GetRule())
	if err != nil {
		return nil, err
	}
	switch err := a.backend.CreateRule(ctx, ns, r, DefaultRules(), a.now()); {
	case errors.Is(err, ErrExists):
		return nil, conflict("rule %s already exists in namespace %s", r.ID, ns)
	case err != nil:
		return nil, a.failed(ctx, "creating a rule", err)
	}
	a.forgetRules(ns)
	return &pb.CreateResponse{}, nil
}

// Delete removes a rule, the default ones included (Micro's lockdown
// deletes "default").
func (s rulesServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	a := s.a
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, badRequest("id is required")
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	switch err := a.backend.DeleteRule(ctx, ns, req.GetId(), DefaultRules(), a.now()); {
	case errors.Is(err, ErrNotFound):
		return nil, merrors.NotFound(errID, "rule %s not found in namespace %s", req.GetId(), ns)
	case err != nil:
		return nil, a.failed(ctx, "deleting a rule", err)
	}
	a.forgetRules(ns)
	return &pb.DeleteResponse{}, nil
}

// List returns the rules of the namespace, highest priority first: its own,
// or the defaults while no one has changed them.
func (s rulesServer) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	rules, err := s.a.rulesOf(ctx, ns)
	if err != nil {
		return nil, s.a.failed(ctx, "listing rules", err)
	}
	sorted := append([]Rule(nil), rules...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Priority != sorted[j].Priority {
			return sorted[i].Priority > sorted[j].Priority
		}
		return sorted[i].ID < sorted[j].ID
	})
	rsp := &pb.ListResponse{Rules: make([]*pb.Rule, len(sorted))}
	for i, r := range sorted {
		access := pb.Access_GRANTED
		if r.Access == Denied {
			access = pb.Access_DENIED
		}
		rsp.Rules[i] = &pb.Rule{
			Id: r.ID, Scope: r.Scope, Access: access, Priority: r.Priority,
			Resource: &pb.Resource{Type: r.Resource.Type, Name: r.Resource.Name, Endpoint: r.Resource.Endpoint},
		}
	}
	return rsp, nil
}

// fromProtoRule validates a rule of a request.
func fromProtoRule(p *pb.Rule) (Rule, error) {
	if p == nil {
		return Rule{}, badRequest("rule is required")
	}
	if err := checkID("rule id", p.GetId()); err != nil {
		return Rule{}, err
	}
	r := Rule{ID: p.GetId(), Scope: p.GetScope(), Priority: p.GetPriority()}
	if err := checkWord("scope", r.Scope, true); err != nil {
		return Rule{}, err
	}
	res := p.GetResource()
	r.Resource = Resource{Type: res.GetType(), Name: res.GetName(), Endpoint: res.GetEndpoint()}
	for _, f := range []struct{ what, v string }{
		{"resource type", r.Resource.Type}, {"resource name", r.Resource.Name}, {"resource endpoint", r.Resource.Endpoint},
	} {
		if f.v == "" {
			return Rule{}, badRequest("%s is required (use * to match any)", f.what)
		}
		if err := checkWord(f.what, f.v, false); err != nil {
			return Rule{}, err
		}
	}
	switch p.GetAccess() {
	case pb.Access_GRANTED:
		r.Access = Granted
	case pb.Access_DENIED:
		r.Access = Denied
	default:
		return Rule{}, badRequest("access must be GRANTED or DENIED")
	}
	return r, nil
}

// Limits on what an account or rule may hold.
const (
	maxIDSize       = 255
	maxSecretSize   = 4096
	maxScopes       = 64
	maxMetadata     = 64
	maxMetaValue    = 4096
	maxNamespaceLen = 64
)

var validTypes = map[string]bool{fauth.TypeUser: true, fauth.TypeService: true, "client": true}

// checkID accepts a non-empty id without spaces or control characters.
func checkID(what, v string) error {
	if v == "" {
		return badRequest("%s is required", what)
	}
	return checkWord(what, v, false)
}

// checkWord accepts up to maxIDSize bytes without spaces or control
// characters (empty only when allowEmpty).
func checkWord(what, v string, allowEmpty bool) error {
	if v == "" && !allowEmpty {
		return badRequest("%s is required", what)
	}
	if len(v) > maxIDSize {
		return badRequest("%s is %d bytes; the limit is %d", what, len(v), maxIDSize)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return badRequest("%s %q contains spaces or control characters", what, v)
	}
	return nil
}

// checkNamespace accepts 1-64 letters, digits, '.', '_' and '-', starting
// with a letter or digit: a namespace is also a store database, a registry
// domain and a segment of the CLI's tokens file.
func checkNamespace(ns string) error {
	ok := ns != "" && len(ns) <= maxNamespaceLen
	for i := 0; ok && i < len(ns); i++ {
		c := ns[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return badRequest("namespace %q is not valid: use 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", ns, maxNamespaceLen)
	}
	return nil
}

func checkScopes(scopes []string) error {
	if len(scopes) > maxScopes {
		return badRequest("%d scopes; the limit is %d", len(scopes), maxScopes)
	}
	for _, s := range scopes {
		if err := checkID("scope", s); err != nil {
			return err
		}
		if strings.Contains(s, ",") {
			return badRequest("scope %q contains a comma", s)
		}
	}
	return nil
}

func checkMetadata(md map[string]string) error {
	if len(md) > maxMetadata {
		return badRequest("%d metadata keys; the limit is %d", len(md), maxMetadata)
	}
	for k, v := range md {
		if err := checkID("metadata key", k); err != nil {
			return err
		}
		if len(v) > maxMetaValue {
			return badRequest("metadata %s is %d bytes; the limit is %d", k, len(v), maxMetaValue)
		}
	}
	return nil
}

func checkSecretSize(secret string) error {
	if len(secret) > maxSecretSize {
		return badRequest("secret is %d bytes; the limit is %d", len(secret), maxSecretSize)
	}
	return nil
}
