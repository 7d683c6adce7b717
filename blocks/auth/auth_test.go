package auth

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/auth"
)

func TestDefaultAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		if !e.auth.DefaultPasswordInUse() {
			t.Fatal("a fresh server does not report the default password")
		}
		tok := e.login(t, "micro", "admin", "micro")
		acc, err := e.authc.Inspect(context.Background(), &pb.InspectRequest{Token: tok.AccessToken})
		if err != nil {
			t.Fatal(err)
		}
		a := acc.Account
		if a.Id != "admin" || a.Issuer != "micro" || a.Type != "user" || strings.Join(a.Scopes, ",") != "admin" || a.Secret != "" {
			t.Fatalf("admin account: %v", a)
		}
		// Only in namespace micro.
		_, err = e.authc.Token(context.Background(), &pb.TokenRequest{Id: "admin", Secret: "micro", Options: &pb.Options{Namespace: "acme"}})
		wantCode(t, "admin in acme", err, 401, "invalid account id or secret")

		// Changing the password clears the warning.
		_, err = e.accounts.ChangeSecret(as(context.Background(), tok.AccessToken), &pb.ChangeSecretRequest{Id: "admin", NewSecret: "better"})
		wantCode(t, "change secret", err, 0, "")
		if e.auth.DefaultPasswordInUse() {
			t.Fatal("still reports the default password after it changed")
		}
	})
}

// TestRestartChecksNoSecret: whether the admin still has the default
// password is known at every start (the warning, GET /), yet a restart
// runs no argon2id for it: the answer is remembered with the hash it was
// found for. A hash changed behind the block's back (another node, an
// older version) is checked once, then remembered too.
func TestRestartChecksNoSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		restart := func(want bool, wantRuns int64) {
			t.Helper()
			before := argonRuns.Load()
			a := New(e.db, fauth.Namespaces, append(e.with, WithClock(e.clock.Now), quiet)...)
			if err := a.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if got := a.DefaultPasswordInUse(); got != want {
				t.Fatalf("DefaultPasswordInUse = %v after a restart, want %v", got, want)
			}
			if runs := argonRuns.Load() - before; runs != wantRuns {
				t.Fatalf("the restart ran argon2id %d times, want %d", runs, wantRuns)
			}
		}
		e.auth.Close()
		restart(true, 0)
		restart(true, 0)

		// The admin's secret changed behind the block's back, through a
		// backend of its own.
		other := New(e.db, fauth.Namespaces, append(e.with, WithClock(e.clock.Now), quiet)...)
		defer other.Close()
		behind := other.backend

		hash, err := hashSecret("changed")
		if err != nil {
			t.Fatal(err)
		}
		if err := behind.SetSecret(context.Background(), metadata.DefaultNamespace, AdminID, hash, newUID(), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		restart(false, 1)
		restart(false, 0)

		// Back to the default behind its back: checked again, not taken
		// from what was remembered of another hash.
		if hash, err = hashSecret(DefaultAdminPassword); err != nil {
			t.Fatal(err)
		}
		if err := behind.SetSecret(context.Background(), metadata.DefaultNamespace, AdminID, hash, newUID(), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		restart(true, 1)
		restart(true, 0)
	})
}

func TestAdminPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		// At the first start.
		e := newEnv(t, append(fresh(), WithAdminPassword("s3cret"))...)
		if e.auth.DefaultPasswordInUse() {
			t.Fatal("reports the default password although one was given")
		}
		_, err := e.authc.Token(context.Background(), &pb.TokenRequest{Id: "admin", Secret: "micro"})
		wantCode(t, "default password", err, 401, "")
		e.login(t, "micro", "admin", "s3cret")

		// On a later start, while the default is still in use.
		e2 := newEnv(t, fresh()...)
		old := e2.login(t, "micro", "admin", "micro")
		e2.auth.Close()
		a := New(e2.db, fauth.Namespaces, append(e2.with, WithClock(e2.clock.Now), quiet, WithAdminPassword("later"))...)
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if a.DefaultPasswordInUse() {
			t.Fatal("default password still reported after --admin-password")
		}
		if _, _, err := a.checkCredentials(context.Background(), "micro", "admin", "later"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.checkCredentials(context.Background(), "micro", "admin", "later"); !ok {
			t.Fatal("the new password does not work")
		}
		if _, err := a.inspect(context.Background(), old.AccessToken); err == nil {
			t.Fatal("a token issued under the default password survived the change")
		}
		// Once changed, a later --admin-password does not override it.
		a2 := New(e2.db, fauth.Namespaces, append(e2.with, WithClock(e2.clock.Now), quiet, WithAdminPassword("other"))...)
		if err := a2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer a2.Close()
		if _, ok, _ := a2.checkCredentials(context.Background(), "micro", "admin", "later"); !ok {
			t.Fatal("--admin-password replaced a password the admin had set")
		}
	})
}

func TestTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()

		// Default lifetime, a requested one, and the cap.
		for _, c := range []struct {
			ask  int64
			want time.Duration
		}{{0, DefaultTokenExpiry}, {60, time.Minute}, {10 << 40, MaxTokenExpiry}} {
			rsp, err := e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: "micro", TokenExpiry: c.ask})
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(rsp.Token.Expiry-rsp.Token.Created) * time.Second; got != c.want {
				t.Errorf("token_expiry %d: lifetime %v, want %v", c.ask, got, c.want)
			}
		}
		_, err := e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: "micro", TokenExpiry: -1})
		wantCode(t, "negative expiry", err, 400, "token_expiry")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{})
		wantCode(t, "no credentials", err, 400, "give id and secret")

		// The claims Micro puts in its tokens.
		tok := e.login(t, "micro", "admin", "micro")
		parts := strings.Split(tok.AccessToken, ".")
		body, _ := base64.RawURLEncoding.DecodeString(parts[1])
		for _, claim := range []string{`"sub":"admin"`, `"iss":"micro"`, `"type":"user"`, `"scopes":["admin"]`, `"metadata":{}`, `"name":"admin"`, `"exp":`} {
			if !strings.Contains(string(body), claim) {
				t.Errorf("claims %s lack %s", body, claim)
			}
		}
		head, _ := base64.RawURLEncoding.DecodeString(parts[0])
		if !strings.Contains(string(head), `"alg":"EdDSA"`) || !strings.Contains(string(head), `"kid":`) {
			t.Errorf("header %s", head)
		}

		// Tampered: a claim changed, the signature kept.
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(body), `"scopes":["admin"]`, `"scopes":["admin","x"]`, 1))) + "." + parts[2]
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: forged})
		wantCode(t, "tampered", err, 401, "invalid token")
		// The same signature bytes spelt differently: the last character of
		// the signature carries 4 unused bits, which a lenient decoder ignores.
		// A token is accepted only in the one spelling the server wrote.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		sig := parts[2]
		respelt := sig[:len(sig)-1] + string(alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1])
		if a, b := mustDecode(t, sig), mustDecode(t, respelt); string(a) != string(b) {
			t.Fatal("respelt signature decodes differently")
		}
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: parts[0] + "." + parts[1] + "." + respelt})
		wantCode(t, "signature respelt", err, 401, "invalid token")
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: "not.a.jwt"})
		wantCode(t, "malformed", err, 401, "invalid token")
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{})
		wantCode(t, "empty", err, 400, "token is required")

		// Signed by another key (another server's), and with alg none.
		other := newEnv(t, fresh()...)
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: other.admin(t)})
		wantCode(t, "foreign key", err, 401, "invalid token")
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "admin", "iss": "micro", "uid": "x", "exp": 2e9}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: none})
		wantCode(t, "alg none", err, 401, "invalid token")

		// Expired.
		e.clock.Advance(DefaultTokenExpiry + time.Second)
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken})
		wantCode(t, "expired", err, 401, "token has expired")
		_, err = e.accounts.List(as(ctx, tok.AccessToken), &pb.ListAccountsRequest{})
		wantCode(t, "expired at the door", err, 401, "token has expired")
	})
}

func TestRefreshRotates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		first := e.login(t, "micro", "admin", "micro")

		e.clock.Advance(time.Minute)
		rsp, err := e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: first.RefreshToken})
		if err != nil {
			t.Fatal(err)
		}
		second := rsp.Token
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Fatal("refresh did not issue new tokens")
		}
		if _, err := e.authc.Inspect(ctx, &pb.InspectRequest{Token: second.AccessToken}); err != nil {
			t.Fatalf("refreshed access token: %v", err)
		}
		// The old refresh token is used up; presenting it again revokes the
		// whole session, the new refresh token included.
		_, err = e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: first.RefreshToken})
		wantCode(t, "reuse", err, 401, "already used")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: second.RefreshToken})
		wantCode(t, "after reuse", err, 401, "invalid or expired refresh token")

		// Another session of the same account is untouched.
		other := e.login(t, "micro", "admin", "micro")
		if _, err := e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: other.RefreshToken}); err != nil {
			t.Fatalf("unrelated session: %v", err)
		}

		// Refresh tokens expire.
		third := e.login(t, "micro", "admin", "micro")
		e.clock.Advance(RefreshTokenExpiry)
		_, err = e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: third.RefreshToken})
		wantCode(t, "expired refresh", err, 401, "invalid or expired")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: "made-up"})
		wantCode(t, "unknown refresh", err, 401, "invalid or expired")

		// The sweeper removes expired and used rows.
		n, err := e.auth.backend.Sweep(ctx, e.clock.Now(), e.clock.Now().Add(-usedRefreshKept))
		if err != nil || n == 0 {
			t.Fatalf("sweep: %d %v", n, err)
		}
	})
}

func TestDeletingAnAccountRevokesItsTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		e.generate(t, "acme", "alice", "user", "pw")
		tok := e.login(t, "acme", "alice", "pw")
		if _, err := e.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken}); err != nil {
			t.Fatal(err)
		}
		_, err := e.accounts.Delete(as(ctx, e.admin(t)), &pb.DeleteAccountRequest{Id: "alice", Options: &pb.Options{Namespace: "acme"}})
		wantCode(t, "delete", err, 0, "")

		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken})
		wantCode(t, "inspect after delete", err, 401, "revoked")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{RefreshToken: tok.RefreshToken})
		wantCode(t, "refresh after delete", err, 401, "")
		_, err = e.authc.Generate(as(ctx, tok.AccessToken), &pb.GenerateRequest{Id: "x"})
		wantCode(t, "call after delete", err, 401, "revoked")

		// An account re-created with the same id does not revive old tokens.
		e.generate(t, "acme", "alice", "user", "pw")
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken})
		wantCode(t, "inspect after re-create", err, 401, "revoked")

		// Nor does a changed secret keep them.
		tok = e.login(t, "acme", "alice", "pw")
		_, err = e.accounts.ChangeSecret(inNS(as(ctx, tok.AccessToken), "acme"), &pb.ChangeSecretRequest{Id: "alice", OldSecret: "pw", NewSecret: "pw2"})
		wantCode(t, "change own secret", err, 0, "")
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken})
		wantCode(t, "inspect after secret change", err, 401, "revoked")
		e.login(t, "acme", "alice", "pw2")
	})
}

func TestAccounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		admin := as(ctx, e.admin(t))
		opts := &pb.Options{Namespace: "acme"}

		rsp, err := e.authc.Generate(admin, &pb.GenerateRequest{Id: "bob", Scopes: []string{"admin"}, Metadata: map[string]string{"team": "x"}, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		if rsp.Account.Secret == "" || rsp.Account.Type != "user" || rsp.Account.Name != "bob" || rsp.Account.Issuer != "acme" {
			t.Fatalf("generated: %v", rsp.Account)
		}
		bob := as(ctx, e.login(t, "acme", "bob", rsp.Account.Secret).AccessToken)
		for _, c := range []struct {
			name string
			req  *pb.GenerateRequest
			code int32
		}{
			{"duplicate id", &pb.GenerateRequest{Id: "bob", Options: opts}, 409},
			{"id taken as a name", &pb.GenerateRequest{Id: "robert", Name: "bob", Options: opts}, 409},
			{"no id", &pb.GenerateRequest{Options: opts}, 400},
			{"bad type", &pb.GenerateRequest{Id: "t", Type: "root", Options: opts}, 400},
			{"space in id", &pb.GenerateRequest{Id: "a b", Options: opts}, 400},
			{"bad namespace", &pb.GenerateRequest{Id: "t", Options: &pb.Options{Namespace: "a/b"}}, 400},
			{"huge secret", &pb.GenerateRequest{Id: "t", Secret: strings.Repeat("x", maxSecretSize+1), Options: opts}, 400},
		} {
			_, err := e.authc.Generate(admin, c.req)
			wantCode(t, c.name, err, c.code, "")
		}
		// Login by name as well as by id.
		_, err = e.authc.Generate(admin, &pb.GenerateRequest{Id: "u1", Name: "carol", Secret: "pw", Options: opts})
		wantCode(t, "generate carol", err, 0, "")
		e.login(t, "acme", "carol", "pw")

		list, err := e.accounts.List(admin, &pb.ListAccountsRequest{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range list.Accounts {
			ids = append(ids, a.Id)
			if a.Secret != "" {
				t.Fatalf("list shows a secret: %v", a)
			}
		}
		if strings.Join(ids, ",") != "bob,u1" {
			t.Fatalf("acme accounts: %v", ids)
		}
		// An acme admin manages acme (namespace from its token), not micro.
		if _, err := e.accounts.List(bob, &pb.ListAccountsRequest{}); err != nil {
			t.Fatalf("acme admin lists acme: %v", err)
		}
		_, err = e.accounts.List(bob, &pb.ListAccountsRequest{Options: &pb.Options{Namespace: "micro"}})
		wantCode(t, "acme admin lists micro", err, 403, "access denied to namespace micro")
		_, err = e.accounts.Delete(bob, &pb.DeleteAccountRequest{Id: "bob"})
		wantCode(t, "delete yourself", err, 400, "your own account")
		_, err = e.accounts.Delete(bob, &pb.DeleteAccountRequest{Id: "nobody"})
		wantCode(t, "delete unknown", err, 404, "")

		// A user (no admin scope) changes only with the old secret; an admin
		// without.
		carol := inNS(as(ctx, e.login(t, "acme", "carol", "pw").AccessToken), "acme")
		_, err = e.accounts.List(carol, &pb.ListAccountsRequest{})
		wantCode(t, "user lists", err, 403, "admin access")
		_, err = e.accounts.ChangeSecret(carol, &pb.ChangeSecretRequest{Id: "u1", OldSecret: "wrong", NewSecret: "n"})
		wantCode(t, "wrong old secret", err, 401, "invalid account id or old secret")
		_, err = e.accounts.ChangeSecret(carol, &pb.ChangeSecretRequest{Id: "u1", NewSecret: ""})
		wantCode(t, "no new secret", err, 400, "new_secret")
		_, err = e.accounts.ChangeSecret(bob, &pb.ChangeSecretRequest{Id: "u1", NewSecret: "set-by-admin"})
		wantCode(t, "admin sets a secret", err, 0, "")
		e.login(t, "acme", "u1", "set-by-admin")
		_, err = e.accounts.ChangeSecret(ctx, &pb.ChangeSecretRequest{Id: "u1", NewSecret: "x", Options: opts})
		wantCode(t, "anonymous change", err, 401, "")

		// Unknown account and wrong secret look the same.
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Id: "nobody", Secret: "x", Options: opts})
		wantCode(t, "unknown account", err, 401, "invalid account id or secret")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Id: "bob", Secret: "x", Options: opts})
		wantCode(t, "wrong secret", err, 401, "invalid account id or secret")
	})
}

func TestServiceAccountSecretIsAJWT(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		id, secret, err := e.auth.MintServiceAccount(ctx, "acme", "helloworld")
		if err != nil || id != "helloworld" || !looksLikeJWT(secret) {
			t.Fatalf("mint: %q %q %v", id, secret, err)
		}
		// With its id, and without.
		for _, req := range []*pb.TokenRequest{
			{Id: id, Secret: secret, Options: &pb.Options{Namespace: "acme"}},
			{Secret: secret, Options: &pb.Options{Namespace: "acme"}},
		} {
			rsp, err := e.authc.Token(ctx, req)
			if err != nil {
				t.Fatalf("token with a JWT secret: %v", err)
			}
			acc, err := e.auth.inspect(ctx, rsp.Token.AccessToken)
			if err != nil || acc.ID != "helloworld" || acc.Type != "service" || !acc.IsAdmin() || acc.Issuer != "acme" {
				t.Fatalf("service account %+v %v", acc, err)
			}
		}
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Id: "other", Secret: secret, Options: &pb.Options{Namespace: "acme"}})
		wantCode(t, "secret of another account", err, 401, "")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Id: id, Secret: secret, Options: &pb.Options{Namespace: "micro"}})
		wantCode(t, "secret in another namespace", err, 401, "")
		// A credential is not an access token: as a bearer it is refused at
		// the door and by Inspect, saying to exchange it; a refresh token
		// likewise.
		refresh := e.login(t, "micro", "admin", "micro").RefreshToken
		for what, bearer := range map[string]string{"credential": secret, "refresh token": refresh} {
			_, err = e.accounts.List(inNS(as(ctx, bearer), "acme"), &pb.ListAccountsRequest{Options: &pb.Options{Namespace: "acme"}})
			wantCode(t, what+" as a bearer", err, 401, "not an access token; exchange")
			_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: bearer})
			wantCode(t, what+" inspected", err, 401, "not an access token; exchange")
		}
		// An access token is not a credential: a stolen one cannot be turned
		// into a session.
		access := e.login(t, "micro", "admin", "micro").AccessToken
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: access})
		wantCode(t, "access token as a secret", err, 401, "")

		// Minting again keeps the account and earlier secrets.
		_, again, err := e.auth.MintServiceAccount(ctx, "acme", "helloworld")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{secret, again} {
			if _, err := e.authc.Token(ctx, &pb.TokenRequest{Secret: s, Options: &pb.Options{Namespace: "acme"}}); err != nil {
				t.Fatalf("secret after re-mint: %v", err)
			}
		}
		// A user account of that name is not taken over.
		e.generate(t, "acme", "web", "user", "pw")
		if _, _, err := e.auth.MintServiceAccount(ctx, "acme", "web"); err == nil {
			t.Fatal("minted a service secret for a user account")
		}
		// Deleting the account revokes its secrets.
		_, err = e.accounts.Delete(as(ctx, e.admin(t)), &pb.DeleteAccountRequest{Id: "helloworld", Options: &pb.Options{Namespace: "acme"}})
		wantCode(t, "delete service", err, 0, "")
		_, err = e.authc.Token(ctx, &pb.TokenRequest{Secret: secret, Options: &pb.Options{Namespace: "acme"}})
		wantCode(t, "secret after delete", err, 401, "")
	})
}

func TestAuthenticateAtTheDoor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		e.generate(t, "acme", "alice", "user", "pw")
		alice := e.login(t, "acme", "alice", "pw").AccessToken

		// Not Bearer.
		_, err := e.accounts.List(metadata.Set(ctx, metadata.Authorization, "Basic YWRtaW46bWljcm8="), &pb.ListAccountsRequest{})
		wantCode(t, "basic", err, 401, "invalid authorization header. expected Bearer schema")
		// Health stays public whatever the rules.
		if _, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health: %v", err)
		}

		// Lock acme down: anonymous callers meet the rules before any handler.
		admin := as(ctx, e.admin(t))
		acme := &pb.Options{Namespace: "acme"}
		_, err = e.rules.Create(admin, &pb.CreateRequest{Options: acme, Rule: &pb.Rule{
			Id: "lockdown", Scope: "*", Priority: 1, Access: pb.Access_GRANTED, Resource: &pb.Resource{Type: "*", Name: "*", Endpoint: "*"}}})
		wantCode(t, "create lockdown", err, 0, "")
		_, err = e.rules.Delete(admin, &pb.DeleteRequest{Id: "default", Options: acme})
		wantCode(t, "delete default", err, 0, "")

		_, err = e.authc.Inspect(inNS(ctx, "acme"), &pb.InspectRequest{Token: alice})
		wantCode(t, "anonymous in locked acme", err, 401, "Unauthorized call made to auth:Auth.Inspect")
		// ...but can still log in, even carrying a stale token.
		e.login(t, "acme", "alice", "pw")
		_, err = e.authc.Token(inNS(as(ctx, "stale.to.ken"), "acme"), &pb.TokenRequest{Id: "alice", Secret: "pw"})
		wantCode(t, "login with a stale token", err, 0, "")
		// An account of acme passes (namespace from the token's issuer).
		_, err = e.authc.Inspect(as(ctx, alice), &pb.InspectRequest{Token: alice})
		wantCode(t, "alice in acme", err, 0, "")
		// An account of micro, even its admin, is refused by acme's "*" rule.
		_, err = e.authc.Inspect(inNS(admin, "acme"), &pb.InspectRequest{Token: alice})
		wantCode(t, "micro admin in acme", err, 403, "Forbidden call made to auth:Auth.Inspect by admin")
		// Micro is untouched.
		_, err = e.authc.Inspect(ctx, &pb.InspectRequest{Token: alice})
		wantCode(t, "anonymous in micro", err, 0, "")

		// The account reaches the handler.
		var seen *fauth.Account
		in := grpcmd.NewIncomingContext(ctx, grpcmd.Pairs("authorization", "Bearer "+alice))
		got, err := e.auth.Authenticate(in, "store", "Store.Read", "10.0.0.1:5")
		if err != nil {
			t.Fatal(err)
		}
		seen, _ = fauth.AccountFromContext(got)
		if seen == nil || seen.ID != "alice" || metadata.NamespaceFrom(got) != "acme" || clientAddr(got) != "10.0.0.1:5" {
			t.Fatalf("context: %+v ns %q addr %q", seen, metadata.NamespaceFrom(got), clientAddr(got))
		}
	})
}

func TestRulesStartAsDefaults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		ctx := context.Background()
		admin := as(ctx, e.admin(t))
		list := func(ns string) []string {
			t.Helper()
			rsp, err := e.rules.List(admin, &pb.ListRequest{Options: &pb.Options{Namespace: ns}})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rsp.Rules {
				out = append(out, r.Id+"="+r.Scope+"/"+r.Access.String()+"/"+r.Resource.Type+":"+r.Resource.Name+":"+r.Resource.Endpoint)
			}
			return out
		}
		defaults := "auth-token=/GRANTED/service:auth:Auth.Token default=/GRANTED/*:*:*"
		if got := strings.Join(list("fresh"), " "); got != defaults {
			t.Fatalf("fresh namespace: %s", got)
		}
		// Listing, verifying and anonymous calls write nothing.
		var n int
		e.db.Read().QueryRow(`SELECT count(*) FROM auth_rules`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d rule rows written by reads", n)
		}
		for _, bad := range []*pb.Rule{
			nil,
			{Id: "x", Access: pb.Access_GRANTED, Resource: &pb.Resource{Type: "*", Name: "*"}},
			{Id: "x", Resource: &pb.Resource{Type: "*", Name: "*", Endpoint: "*"}},
			{Resource: &pb.Resource{Type: "*", Name: "*", Endpoint: "*"}, Access: pb.Access_GRANTED},
		} {
			_, err := e.rules.Create(admin, &pb.CreateRequest{Rule: bad, Options: &pb.Options{Namespace: "x"}})
			wantCode(t, "bad rule", err, 400, "")
		}
		rule := &pb.Rule{Id: "r", Scope: "admin", Priority: 3, Access: pb.Access_DENIED, Resource: &pb.Resource{Type: "service", Name: "store", Endpoint: "*"}}
		_, err := e.rules.Create(admin, &pb.CreateRequest{Rule: rule, Options: &pb.Options{Namespace: "fresh"}})
		wantCode(t, "create", err, 0, "")
		_, err = e.rules.Create(admin, &pb.CreateRequest{Rule: rule, Options: &pb.Options{Namespace: "fresh"}})
		wantCode(t, "create twice", err, 409, "")
		if got := strings.Join(list("fresh"), " "); got != "r=admin/DENIED/service:store:* "+defaults {
			t.Fatalf("after create: %s", got)
		}
		_, err = e.rules.Delete(admin, &pb.DeleteRequest{Id: "default", Options: &pb.Options{Namespace: "other"}})
		wantCode(t, "delete default", err, 0, "")
		if got := strings.Join(list("other"), " "); got != "auth-token=/GRANTED/service:auth:Auth.Token" {
			t.Fatalf("after deleting default: %s", got)
		}
		_, err = e.rules.Delete(admin, &pb.DeleteRequest{Id: "default", Options: &pb.Options{Namespace: "other"}})
		wantCode(t, "delete again", err, 404, "")

		// Rules survive a restart.
		a := New(e.db, fauth.Namespaces, append(e.with, WithClock(e.clock.Now), quiet)...)
		rules, err := a.rulesOf(ctx, "other")
		if err != nil || len(rules) != 1 || rules[0].ID != AuthTokenRuleID {
			t.Fatalf("after restart: %v %v", rules, err)
		}
	})
}

func TestTokensSurviveARestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		tok := e.login(t, "micro", "admin", "micro")
		a := New(e.db, fauth.Namespaces, append(e.with, WithClock(e.clock.Now), quiet)...)
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.inspect(context.Background(), tok.AccessToken); err != nil {
			t.Fatalf("token after restart: %v", err)
		}
	})
}

// mustDecode decodes unpadded base64url leniently, as JWT libraries do by
// default.
func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
