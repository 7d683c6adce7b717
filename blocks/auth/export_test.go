package auth

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/auth"
)

// TestExport copies auth on a real JetStream into a fresh SQLite file, on
// which an appliance's auth starts without a first start of its own:
// accounts log in with their passwords, a service credential exchanges, a
// token the cluster issued verifies (its signing keys carried), a
// namespace's own rules are its rules; then the file imported into a
// second JetStream (a cluster backup restored) logs in the same.
func TestExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	cluster.generate(t, "shop", "alice", "user", "alice-pw")
	_, cred, err := cluster.auth.MintServiceAccount(ctx, "shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	lock := Rule{ID: "lock", Scope: "admin", Resource: Resource{Type: "service", Name: "billing", Endpoint: "*"}, Access: Granted, Priority: 5}
	if err := cluster.auth.backend.CreateRule(ctx, "shop", lock, DefaultRules(), time.Now()); err != nil {
		t.Fatal(err)
	}
	issued := cluster.login(t, "shop", "alice", "alice-pw").AccessToken

	path := filepath.Join(t.TempDir(), "export.db")
	to := openDB(t, path)
	copied, err := cluster.auth.Export(ctx, to)
	// admin, alice, orders, and shop's three rules.
	if err != nil || copied != 6 {
		t.Fatalf("export: copied %d, %v; want 6", copied, err)
	}
	if err := to.Close(); err != nil {
		t.Fatal(err)
	}
	file := newEnvAt(t, path)
	file.login(t, "micro", AdminID, DefaultAdminPassword)
	file.login(t, "shop", "alice", "alice-pw")
	if tok := file.login(t, "shop", "orders", cred); tok.AccessToken == "" {
		t.Fatal("no token for the service credential")
	}
	if acc, err := file.authc.Inspect(ctx, &pb.InspectRequest{Token: issued}); err != nil || acc.Account.GetId() != "alice" {
		t.Fatalf("the cluster's token in the file: %v %v", acc, err)
	}
	keys, err := file.auth.backend.Keys(ctx, "micro")
	want, _ := cluster.auth.backend.Keys(ctx, "micro")
	if err != nil || len(keys) != len(want) || keys[0].ID != want[0].ID {
		t.Fatalf("the file's micro keys %v, want the cluster's %v (%v): the appliance made its own first key", keys, want, err)
	}
	rules, own, err := file.auth.backend.Rules(ctx, "shop")
	if err != nil || !own || len(rules) != 3 || rules[0].ID != "lock" {
		t.Fatalf("shop's rules in the file: %+v own %v, %v", rules, own, err)
	}
	if _, own, err := file.auth.backend.Rules(ctx, "micro"); err != nil || own {
		t.Fatalf("micro, with the default rules in the cluster, has its own in the file: %v %v", own, err)
	}
	acc, err := file.auth.backend.Account(ctx, "shop", "alice")
	wantAcc, _ := cluster.auth.backend.Account(ctx, "shop", "alice")
	if err != nil || acc.UID != wantAcc.UID || acc.SecretHash != wantAcc.SecretHash || acc.Type != fauth.TypeUser ||
		acc.Created.Unix() != wantAcc.Created.Unix() {
		t.Fatalf("alice in the file: %+v, want %+v (%v)", acc, wantAcc, err)
	}

	again := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	if _, _, err := again.auth.Import(ctx, file.db); err != nil {
		t.Fatal(err)
	}
	again.login(t, "shop", "alice", "alice-pw")
	again.login(t, "shop", "orders", cred)
	if _, err := again.authc.Inspect(ctx, &pb.InspectRequest{Token: issued}); err != nil {
		t.Fatalf("the first cluster's token in the second: %v", err)
	}
}
