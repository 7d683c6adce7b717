package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"micro.dev/micro/blocks/internal/failure"
	fauth "micro.dev/micro/framework/auth"
	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/auth"
)

// authServer serves auth.Auth.
type authServer struct {
	pb.UnimplementedAuthServer
	a *Auth
}

// Generate creates an account in the namespace (options.namespace, else the
// call's); the caller must administer it. The reply is the only place the
// secret is ever shown: the one given, or a random one made here.
func (s authServer) Generate(ctx context.Context, req *pb.GenerateRequest) (*pb.GenerateResponse, error) {
	a := s.a
	ns := namespaceOf(ctx, req.GetOptions())
	if err := s.a.authz.Check(ctx, ns, true); err != nil {
		return nil, err
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	name := req.GetName()
	if name == "" {
		name = req.GetId()
	}
	if err := checkID("name", name); err != nil {
		return nil, err
	}
	typ := req.GetType()
	if typ == "" {
		typ = fauth.TypeUser
	}
	if !validTypes[typ] {
		return nil, badRequest("type %q is not valid; use user, service or client", typ)
	}
	if err := checkScopes(req.GetScopes()); err != nil {
		return nil, err
	}
	if err := checkMetadata(req.GetMetadata()); err != nil {
		return nil, err
	}
	secret := req.GetSecret()
	if secret == "" {
		secret = randomToken(24)
	}
	if err := checkSecretSize(secret); err != nil {
		return nil, err
	}
	hash, err := hashSecret(secret)
	if err != nil {
		return nil, a.failed(ctx, "hashing a secret", err)
	}
	now := a.now()
	acc := Account{
		Namespace: ns, ID: req.GetId(), UID: newUID(), Type: typ, Name: name,
		Scopes: req.GetScopes(), Metadata: req.GetMetadata(), SecretHash: hash, Created: now, Updated: now,
	}
	switch err := a.backend.CreateAccount(ctx, acc); {
	case errors.Is(err, ErrExists):
		return nil, conflict("an account with id or name %q already exists in namespace %s", req.GetId(), ns)
	case err != nil:
		return nil, a.failed(ctx, "creating an account", err)
	}
	a.forgetAccount(ns, acc.ID)
	out := toProto(acc)
	out.Secret = secret
	return &pb.GenerateResponse{Account: out}, nil
}

// Inspect returns the account of a valid access token: 400 without one,
// 401 for one that is invalid, expired or revoked.
func (s authServer) Inspect(ctx context.Context, req *pb.InspectRequest) (*pb.InspectResponse, error) {
	if err := s.a.authz.Public(); err != nil {
		return nil, err
	}
	if req.GetToken() == "" {
		return nil, badRequest("token is required")
	}
	acc, err := s.a.inspect(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	return &pb.InspectResponse{Account: &pb.Account{
		Id: acc.ID, Type: acc.Type, Issuer: acc.Issuer, Name: acc.Name, Scopes: acc.Scopes, Metadata: acc.Metadata,
	}}, nil
}

// Token issues an access token and a refresh token: for an account's id
// (or name) and secret in the namespace (options.namespace, else the
// call's), or for a refresh token, which is used up by the exchange. A
// service whose secret is a credential JWT (MintServiceAccount) passes it as
// the secret, with or without its id.
func (s authServer) Token(ctx context.Context, req *pb.TokenRequest) (*pb.TokenResponse, error) {
	a := s.a
	if err := a.authz.Public(); err != nil {
		return nil, err
	}
	ttl := DefaultTokenExpiry
	switch e := req.GetTokenExpiry(); {
	case e < 0:
		return nil, badRequest("token_expiry is %d; give seconds, or 0 for the default of %d", e, int64(DefaultTokenExpiry/time.Second))
	case e > int64(MaxTokenExpiry/time.Second):
		ttl = MaxTokenExpiry // honoured up to the cap; longer sessions refresh
	case e > 0:
		ttl = time.Duration(e) * time.Second
	}
	var (
		acc     Account
		family  string
		err     error
		refresh = req.GetRefreshToken()
	)
	switch {
	case refresh != "":
		acc, family, err = a.useRefresh(ctx, refresh)
	case req.GetId() != "" || looksLikeJWT(req.GetSecret()):
		acc, err = a.login(ctx, namespaceOf(ctx, req.GetOptions()), req.GetId(), req.GetSecret())
	default:
		return nil, badRequest("give id and secret, or a refresh_token")
	}
	if err != nil {
		return nil, err
	}
	tok, err := a.issue(ctx, acc, ttl, family)
	if err != nil {
		return nil, err
	}
	return &pb.TokenResponse{Token: tok}, nil
}

// errLogin is the one answer to failed credentials, whatever was wrong, so
// that it tells nothing about which accounts exist.
func errLogin() error { return merrors.Unauthorized(errID, "invalid account id or secret") }

// login checks credentials under the rate limits and returns the account.
func (a *Auth) login(ctx context.Context, ns, id, secret string) (Account, error) {
	done, wait, err := a.limits.attempt(ctx, cacheKey(ns, id), clientAddr(ctx))
	if err != nil {
		return Account{}, merrors.FromError(err, errID)
	}
	if wait > 0 {
		secs := int64((wait + time.Second - 1) / time.Second)
		return Account{}, merrors.TooManyRequests(errID, "too many failed login attempts; try again in %ds", secs)
	}
	acc, ok, err := a.checkCredentials(ctx, ns, id, secret)
	if err != nil {
		done(false)
		return Account{}, a.failed(ctx, "checking credentials", err)
	}
	done(ok)
	if !ok {
		return Account{}, errLogin()
	}
	if err := checkDefaultPassword(ctx, ns, acc.ID, secret); err != nil {
		return Account{}, err
	}
	return acc, nil
}

// checkCredentials finds the account by id, then by name, and checks the
// secret: a credential JWT issued for that account, or its password. An
// unknown account costs as much time as a wrong secret.
func (a *Auth) checkCredentials(ctx context.Context, ns, id, secret string) (Account, bool, error) {
	if looksLikeJWT(secret) {
		if c, err := a.keys.parse(ctx, secret); err == nil && c.Use == useCredential && c.Issuer == ns && (id == "" || id == c.Subject) {
			acc, err := a.backend.Account(ctx, ns, c.Subject)
			if errors.Is(err, ErrNotFound) {
				return Account{}, false, nil
			}
			return acc, err == nil && acc.UID == c.UID, err
		}
	}
	acc, err := a.backend.Account(ctx, ns, id)
	if errors.Is(err, ErrNotFound) {
		acc, err = a.backend.AccountByName(ctx, ns, id)
	}
	if errors.Is(err, ErrNotFound) || id == "" {
		checkSecret(dummyHash(), secret)
		return Account{}, false, nil
	}
	if err != nil {
		return Account{}, false, err
	}
	ok, err := checkSecret(acc.SecretHash, secret)
	if err != nil && acc.SecretHash != noSecret {
		a.log.Error("auth: stored secret hash is unreadable", "namespace", ns, "account", acc.ID, "err", err)
	}
	return acc, ok, nil
}

// useRefresh exchanges a refresh token for its account and session family.
func (a *Auth) useRefresh(ctx context.Context, token string) (Account, string, error) {
	h := sha256.Sum256([]byte(token))
	rt, err := a.backend.UseRefresh(ctx, h[:], a.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return Account{}, "", merrors.Unauthorized(errID, "invalid or expired refresh token")
	case errors.Is(err, ErrReused):
		a.log.Warn("auth: a used refresh token was presented again; its session is revoked",
			"namespace", rt.Namespace, "account", rt.AccountID, "client", clientAddr(ctx))
		return Account{}, "", merrors.Unauthorized(errID, "refresh token was already used; the session is revoked, log in again")
	case err != nil:
		return Account{}, "", a.failed(ctx, "using a refresh token", err)
	}
	acc, err := a.backend.Account(ctx, rt.Namespace, rt.AccountID)
	if errors.Is(err, ErrNotFound) {
		return Account{}, "", merrors.Unauthorized(errID, "%s", errTokenRevoked.Error())
	}
	if err != nil {
		return Account{}, "", a.failed(ctx, "loading an account", err)
	}
	return acc, rt.Family, nil
}

// issue signs an access token for acc and stores a new refresh token in
// family (a new family when empty: a new login).
func (a *Auth) issue(ctx context.Context, acc Account, ttl time.Duration, family string) (*pb.Token, error) {
	access, exp, err := a.keys.sign(ctx, acc, ttl, "")
	if err != nil {
		return nil, a.failed(ctx, "signing a token", err)
	}
	if family == "" {
		family = randomToken(12)
	}
	refresh := randomToken(32)
	h := sha256.Sum256([]byte(refresh))
	now := a.now()
	err = a.backend.CreateRefresh(ctx, Refresh{
		Hash: h[:], Namespace: acc.Namespace, AccountID: acc.ID, Family: family,
		Created: now, Expires: now.Add(RefreshTokenExpiry),
	})
	if errors.Is(err, ErrNotFound) {
		return nil, merrors.Unauthorized(errID, "%s", errTokenRevoked.Error())
	}
	if err != nil {
		return nil, a.failed(ctx, "storing a refresh token", err)
	}
	return &pb.Token{AccessToken: access, RefreshToken: refresh, Created: now.Unix(), Expiry: exp.Unix()}, nil
}

var looksLikeJWT = fauth.LooksLikeJWT

// namespaceOf is the namespace a request acts on: its options, else the
// call's (set by the proxy), else the default.
func namespaceOf(ctx context.Context, o *pb.Options) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns
	}
	return metadata.NamespaceFrom(ctx)
}

func toProto(acc Account) *pb.Account {
	return &pb.Account{
		Id: acc.ID, Type: acc.Type, Issuer: acc.Namespace, Name: acc.Name,
		Scopes: nonNil(acc.Scopes), Metadata: nonNilMap(acc.Metadata),
	}
}

func badRequest(format string, a ...any) error { return merrors.BadRequest(errID, format, a...) }

func conflict(format string, a ...any) error { return merrors.Conflict(errID, format, a...) }

// failed turns a backend error into the caller's answer: a shutdown is a
// 503, an ended call keeps its own code, a micro error passes, anything
// else is logged and a 500 that names the operation, not the cause.
func (a *Auth) failed(ctx context.Context, op string, err error) error {
	return failure.Answer(ctx, a.log, errID, op, err)
}

// PublicKeys lists the public keys of a namespace's signing keys
// (options.namespace, else the call's), newest first, so services verify
// tokens locally instead of asking Inspect on every call. Public keys are
// not secret, so anyone may ask; a namespace that has issued no token has
// none, and asking does not make one.
func (s authServer) PublicKeys(ctx context.Context, req *pb.PublicKeysRequest) (*pb.PublicKeysResponse, error) {
	if err := s.a.authz.Public(); err != nil {
		return nil, err
	}
	keys, err := s.a.keys.public(ctx, namespaceOf(ctx, req.GetOptions()))
	if err != nil {
		return nil, s.a.failed(ctx, "listing public keys", err)
	}
	rsp := &pb.PublicKeysResponse{Keys: make([]*pb.PublicKey, len(keys))}
	for i, k := range keys {
		rsp.Keys[i] = &pb.PublicKey{Id: k.id, Algorithm: "EdDSA", Key: k.pub}
	}
	return rsp, nil
}
