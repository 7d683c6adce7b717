package config_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	blockconfig "micro.dev/micro/blocks/config"
	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/config"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/node"
	"micro.dev/micro/node/nodetest"
	pb "micro.dev/micro/proto/config"
	"micro.dev/micro/schema"
)

// whileDown makes n sets of svc.level (from, from+1, ...) straight on the
// stopped node's database file, as another writer would while this
// client's server is away.
func whileDown(t *testing.T, data string, from, n int) {
	t.Helper()
	ctx := context.Background()
	// Every block's schema, as node opens the file (schema.Open refuses a
	// file with blocks it does not know).
	db, err := schema.Open(ctx, data, schema.Options{Migrations: node.Migrations()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := blockconfig.New(db, fauth.Namespaces)
	defer b.Close()
	ctx = fauth.ContextWithAccount(ctx, &fauth.Account{ID: "admin", Type: fauth.TypeUser, Issuer: "micro", Scopes: []string{fauth.ScopeAdmin}})
	for i := from; i < from+n; i++ {
		if _, err := b.Set(ctx, &pb.SetRequest{Namespace: "micro", Path: "svc.level", Value: &pb.Value{Data: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// setWhenUp sets svc.level to v, retrying while the restarted node's
// connection comes back.
func setWhenUp(t *testing.T, cfg config.Config, v int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for err := cfg.Set("svc.level", v); err != nil; err = cfg.Set("svc.level", v) {
		if errors.Code(err) != 503 || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchResumesAcrossRestart: changes made while the server is down are
// all delivered, in order and once, when the watcher reconnects; when more
// changed than the block's change log keeps, the watcher falls back to the
// current value and carries on.
func TestWatchResumesAcrossRestart(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{})
	cfg := config.NewConfig(c, config.Logger(nodetest.Quiet()))
	if err := cfg.Set("svc.level", 1); err != nil {
		t.Fatal(err)
	}
	w, err := cfg.Watch("svc.level")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := collect(t, w, 1); got[0] != "1" {
		t.Fatalf("first %v", got)
	}

	n.Stop()
	whileDown(t, n.Data, 2, 4) // 2, 3, 4, 5
	n.Restart()
	setWhenUp(t, cfg, 6)
	got := collect(t, w, 5)
	if fmt.Sprint(got) != "[2 3 4 5 6]" {
		t.Fatalf("after the restart: %v, want [2 3 4 5 6]", got)
	}

	// More changes than the log keeps: the watcher is told its revision is
	// too old, reads the current value and follows on from it.
	n.Stop()
	whileDown(t, n.Data, 100, blockconfig.DefaultChangeRetention+2)
	n.Restart()
	last := 100 + blockconfig.DefaultChangeRetention + 1
	if got := collect(t, w, 1); got[0] != fmt.Sprint(last) {
		t.Fatalf("after a restart beyond the log: %v, want %d", got, last)
	}
	setWhenUp(t, cfg, 7)
	if got := collect(t, w, 1); got[0] != "7" {
		t.Fatalf("live after the fallback: %v", got)
	}
}
