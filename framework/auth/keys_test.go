package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"micro.dev/micro/framework/client"
	pb "micro.dev/micro/proto/auth"
)

// keyServer answers Auth.PublicKeys with its keys and counts the asks.
type keyServer struct {
	client.Client // nil: any other call panics
	keys          map[string]ed25519.PublicKey
	fetches       int
}

type keyRequest struct{ body any }

func (r keyRequest) Service() string     { return "auth" }
func (r keyRequest) Endpoint() string    { return "Auth.PublicKeys" }
func (r keyRequest) Method() string      { return "/auth.Auth/PublicKeys" }
func (r keyRequest) Body() any           { return r.body }
func (r keyRequest) ContentType() string { return "" }

func (k *keyServer) NewRequest(service, endpoint string, body any, _ ...client.RequestOption) client.Request {
	return keyRequest{body: body}
}

func (k *keyServer) Call(_ context.Context, req client.Request, rsp any, _ ...client.CallOption) error {
	k.fetches++
	out := rsp.(*pb.PublicKeysResponse)
	if req.Body().(*pb.PublicKeysRequest).GetOptions().GetNamespace() != "acme" {
		return nil
	}
	for id, key := range k.keys {
		out.Keys = append(out.Keys, &pb.PublicKey{Id: id, Algorithm: "EdDSA", Key: key})
	}
	return nil
}

func sign(t *testing.T, priv ed25519.PrivateKey, kid, iss string, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "jo", "iss": iss, "type": "user",
		"scopes": []string{"admin"}, "metadata": map[string]string{"team": "a"}, "exp": exp.Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeySet(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	srv := &keyServer{keys: map[string]ed25519.PublicKey{"k1": pub}}
	now := time.Unix(1_800_000_000, 0)
	ks := NewKeySet(srv)
	ks.now = func() time.Time { return now }
	ctx := context.Background()

	valid := sign(t, priv, "k1", "acme", now.Add(time.Hour))
	for i := 0; i < 10; i++ {
		acc, err := ks.Account(ctx, valid)
		if err != nil || acc.ID != "jo" || acc.Issuer != "acme" || acc.Type != "user" || acc.Metadata["team"] != "a" || !acc.HasScope("admin") {
			t.Fatalf("valid token: %+v, %v", acc, err)
		}
	}
	if srv.fetches != 1 {
		t.Errorf("10 verifications made %d fetches, want 1", srv.fetches)
	}

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "jo", "iss": "acme", "exp": now.Add(time.Hour).Unix()})
	hs.Header["kid"] = "k1"
	hsTok, _ := hs.SignedString([]byte(pub))
	for what, tok := range map[string]string{
		"expired":                             sign(t, priv, "k1", "acme", now.Add(-time.Second)),
		"forged":                              sign(t, other, "k1", "acme", now.Add(time.Hour)),
		"unknown key":                         sign(t, other, "k9", "acme", now.Add(time.Hour)),
		"no key id":                           sign(t, priv, "", "acme", now.Add(time.Hour)),
		"another namespace":                   sign(t, priv, "k1", "evil", now.Add(time.Hour)),
		"HS256 with the public key as secret": hsTok,
		"garbage":                             "a.b.c",
	} {
		if acc, err := ks.Account(ctx, tok); err != ErrInvalidToken {
			t.Errorf("%s: %+v, %v; want ErrInvalidToken", what, acc, err)
		}
	}
	// A credential (a service account's secret) verifies but is no access
	// token: it names no caller until exchanged at Auth.Token.
	cred := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "svc", "iss": "acme", "type": "service",
		"scopes": []string{"service"}, "use": UseCredential, "exp": now.Add(time.Hour).Unix()})
	cred.Header["kid"] = "k1"
	credTok, _ := cred.SignedString(priv)
	if acc, err := ks.Account(ctx, credTok); err != ErrNotAccessToken {
		t.Errorf("credential: %+v, %v; want ErrNotAccessToken", acc, err)
	}
	if acc := ks.FromHeader(ctx, "Bearer "+credTok); acc != nil {
		t.Errorf("credential as a bearer names %+v", acc)
	}

	// An unknown key id refetched acme's keys at most once; forged ids
	// again within keysRetry fetch nothing.
	before := srv.fetches
	for i := 0; i < 5; i++ {
		ks.Account(ctx, sign(t, other, "k9", "acme", now.Add(time.Hour)))
	}
	if srv.fetches != before {
		t.Errorf("repeated unknown key ids made %d more fetches", srv.fetches-before)
	}

	// A key added later is found once keysRetry has passed; every
	// KeysRefresh the keys are fetched again.
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	srv.keys["k2"] = pub2
	now = now.Add(keysRetry)
	if _, err := ks.Account(ctx, sign(t, priv2, "k2", "acme", now.Add(time.Hour))); err != nil {
		t.Errorf("a new key after keysRetry: %v", err)
	}
	before = srv.fetches
	now = now.Add(KeysRefresh)
	ks.Account(ctx, sign(t, priv, "k1", "acme", now.Add(time.Hour)))
	if srv.fetches != before+1 {
		t.Errorf("after KeysRefresh: %d fetches, want 1", srv.fetches-before)
	}
}

// Tokens naming ever new namespaces cannot make a fetch per call: past
// maxKeyNamespaces, a new one waits until an old one is keysRetry old, and
// the namespaces with keys are kept.
func TestKeySetBoundsNamespaces(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	srv := &keyServer{keys: map[string]ed25519.PublicKey{"k1": pub}}
	now := time.Unix(1_800_000_000, 0)
	ks := NewKeySet(srv)
	ks.now = func() time.Time { return now }
	ctx := context.Background()
	valid := sign(t, priv, "k1", "acme", now.Add(time.Hour))
	if _, err := ks.Account(ctx, valid); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*maxKeyNamespaces; i++ {
		ks.Account(ctx, sign(t, priv, "k1", fmt.Sprintf("made-up-%d", i), now.Add(time.Hour)))
	}
	if srv.fetches != maxKeyNamespaces {
		t.Errorf("%d made-up namespaces at once made %d fetches, want %d", 3*maxKeyNamespaces, srv.fetches, maxKeyNamespaces)
	}
	now = now.Add(keysRetry)
	before := srv.fetches
	for i := 0; i < 3; i++ {
		ks.Account(ctx, sign(t, priv, "k1", fmt.Sprintf("later-%d", i), now.Add(time.Hour)))
	}
	if srv.fetches != before+3 {
		t.Errorf("after keysRetry, new namespaces made %d fetches, want 3", srv.fetches-before)
	}
	if acc, err := ks.Account(ctx, valid); err != nil || acc.Issuer != "acme" {
		t.Errorf("the namespace with keys was dropped: %v, %v", acc, err)
	}
}
