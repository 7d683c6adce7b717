package auth

import (
	"context"
	"testing"
	"time"

	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/auth"
)

// TestImport copies an appliance's auth (a real SQLite file) into auth on
// a real JetStream: the file's admin replaces the cluster's untouched
// first admin, a user logs in with the password set on the appliance, a
// service account's credential minted there still exchanges, a namespace's
// own rules and the accounts the cluster already has are kept; a second
// import copies nothing.
func TestImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	file := newEnv(t, WithAdminPassword("appliance-admin"))
	admin := file.login(t, "micro", AdminID, "appliance-admin").AccessToken
	if _, err := file.authc.Generate(as(ctx, admin), &pb.GenerateRequest{Id: "alice", Type: "user", Secret: "alice-pw",
		Options: &pb.Options{Namespace: "shop"}}); err != nil {
		t.Fatal(err)
	}
	_, cred, err := file.auth.MintServiceAccount(ctx, "shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	lock := Rule{ID: "lock", Scope: "admin", Resource: Resource{Type: "service", Name: "billing", Endpoint: "*"}, Access: Granted, Priority: 5}
	if err := file.auth.backend.CreateRule(ctx, "shop", lock, DefaultRules(), time.Now()); err != nil {
		t.Fatal(err)
	}

	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	if held, err := cluster.auth.Held(ctx); err != nil || held != "" {
		t.Fatalf("a cluster with only its first admin holds %q, %v", held, err)
	}
	// The cluster has an account named alice in another namespace: not in
	// the way.
	cluster.generate(t, "other", "alice", "user", "other-pw")
	copied, kept, err := cluster.auth.Import(ctx, file.db)
	// admin, alice, orders, and shop's three rules (the two defaults and lock).
	if err != nil || copied != 6 || kept != 0 {
		t.Fatalf("import: copied %d kept %d, %v; want 6, 0", copied, kept, err)
	}
	cluster.login(t, "micro", AdminID, "appliance-admin")
	if _, err := cluster.authc.Token(ctx, &pb.TokenRequest{Id: AdminID, Secret: DefaultAdminPassword, Options: &pb.Options{Namespace: "micro"}}); err == nil {
		t.Fatal("the cluster's first admin password still logs in: the file's admin did not replace it")
	}
	cluster.login(t, "shop", "alice", "alice-pw")
	cluster.login(t, "other", "alice", "other-pw")
	if tok := cluster.login(t, "shop", "orders", cred); tok.AccessToken == "" {
		t.Fatal("no token for the imported service credential")
	}
	rules, own, err := cluster.auth.backend.Rules(ctx, "shop")
	if err != nil || !own || len(rules) != 3 || rules[0].ID != "lock" {
		t.Fatalf("shop's rules: %+v own %v, %v", rules, own, err)
	}
	acc, err := cluster.auth.backend.Account(ctx, "shop", "alice")
	want, _ := file.auth.backend.Account(ctx, "shop", "alice")
	if err != nil || acc.UID != want.UID || acc.SecretHash != want.SecretHash || !acc.Created.Equal(want.Created) || acc.Type != fauth.TypeUser {
		t.Fatalf("alice: %+v, want %+v (%v)", acc, want, err)
	}
	if held, err := cluster.auth.Held(ctx); err != nil || held == "" {
		t.Fatalf("after import the cluster holds %q, %v", held, err)
	}

	// Again: everything is there (the admin no longer the first one).
	if copied, kept, err := cluster.auth.Import(ctx, file.db); err != nil || copied != 0 || kept != 6 {
		t.Fatalf("second import: copied %d kept %d, %v; want 0, 6", copied, kept, err)
	}
	cluster.login(t, "micro", AdminID, "appliance-admin")
}
