package registry

import (
	"testing"
	"time"

	"micro.dev/micro/framework/auth"
)

// TestStartForgetsNodesOfAPreviousRun: a registry started on a file that
// holds live-looking nodes (a crash, a backup) lists none of them; what
// registers after the start counts.
func TestStartForgetsNodesOfAPreviousRun(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.client.Register(ctx, svc("foo", "", 0, "foo-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Register(ctx, svc("bar", "v2", 0, "bar-1", "bar-2")); err != nil {
		t.Fatal(err)
	}
	next := New(e.db, auth.Namespaces, WithClock(e.clock.Now), WithSweepInterval(time.Hour))
	t.Cleanup(func() { next.Close() })
	if svcs, err := next.List(ctx, AnyDomain); err != nil || len(svcs) != 2 {
		t.Fatalf("before start: %v %v; want the 2 services the file holds", svcs, err)
	}
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if svcs, err := next.List(ctx, AnyDomain); err != nil || len(svcs) != 0 {
		t.Fatalf("after start: %v %v; want none", svcs, err)
	}
	if svcs, _, err := next.Lookup(ctx, "micro", "foo"); err != nil || len(svcs) != 0 {
		t.Fatalf("lookup after start: %v %v; want none", svcs, err)
	}
}
