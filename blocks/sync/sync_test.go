package sync

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/sync"
	"micro.dev/micro/schema"
)

func newBlock(t *testing.T, authz auth.Authorizer, be ...Option) (*Sync, *testkit.Clock, *schema.DB) {
	t.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := testkit.NewClock()
	s := New(db, authz, append([]Option{WithClock(c.Now)}, be...)...)
	t.Cleanup(func() { s.Close() })
	if s.js != nil {
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return s, c, db
}

// eachBackend runs test over the SQLite backend and over the JetStream
// one (one embedded server), with be the options selecting it.
func eachBackend(t *testing.T, test func(t *testing.T, be ...Option)) {
	blocktest.EachBackend(t, func(js jetstream.JetStream) []Option { return []Option{WithJetStream(js, 1)} }, test)
}

// as is a context of an account of namespace ns: a service account when
// admin, else a plain user.
func as(ns string, admin bool) context.Context {
	acc := &auth.Account{ID: "x", Issuer: ns, Type: auth.TypeUser}
	if admin {
		acc.Type, acc.Scopes = auth.TypeService, []string{auth.ScopeService}
	}
	return auth.ContextWithAccount(grpcmd.NewIncomingContext(context.Background(), grpcmd.Pairs(metadata.Namespace, ns)), acc)
}

func TestLeaseLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		s, c, db := newBlock(t, auth.Namespaces, be...)
		ctx := as("micro", true)

		a, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing", TtlMs: 10_000, Holder: "node-a"})
		if err != nil || a.Id == "" || a.Token != 1 || a.TtlMs != 10_000 {
			t.Fatalf("acquire: %v %v", a, err)
		}
		_, err = s.Acquire(ctx, &pb.AcquireRequest{Name: "billing", Holder: "node-b"})
		if me := errors.FromError(err, ""); me.Code != 409 || !strings.Contains(me.Detail, `held by "node-a" for another 10s`) {
			t.Fatalf("held: %v", err)
		}
		// Renewed before it runs out, it is still held after the first TTL.
		c.Advance(9 * time.Second)
		if r, err := s.Renew(ctx, &pb.RenewRequest{Name: "billing", Id: a.Id}); err != nil || r.Token != a.Token {
			t.Fatalf("renew: %v %v", r, err)
		}
		c.Advance(9 * time.Second)
		if _, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing"}); errors.Code(err) != 409 {
			t.Fatalf("renewed lease taken: %v", err)
		}
		// Not renewed, it runs out: the holder's renew is a 404, another takes
		// it with a larger token, and the old holder's release changes nothing.
		c.Advance(2 * time.Second)
		if _, err := s.Renew(ctx, &pb.RenewRequest{Name: "billing", Id: a.Id}); errors.Code(err) != 404 {
			t.Fatalf("renew of a lease that ran out: %v", err)
		}
		b, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing", TtlMs: 1000})
		if err != nil || b.Token <= a.Token {
			t.Fatalf("acquire after expiry: %v %v", b, err)
		}
		if _, err := s.Release(ctx, &pb.ReleaseRequest{Name: "billing", Id: a.Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing"}); errors.Code(err) != 409 {
			t.Fatalf("the old holder's release freed the new lease: %v", err)
		}
		ls, err := s.Leases(ctx, &pb.LeasesRequest{})
		if err != nil || len(ls.Leases) != 1 || ls.Leases[0].Token != b.Token || ls.Leases[0].Id != "" {
			t.Fatalf("leases: %v %v", ls, err)
		}
		// Released, it is free at once; tokens keep growing.
		if _, err := s.Release(ctx, &pb.ReleaseRequest{Name: "billing", Id: b.Id}); err != nil {
			t.Fatal(err)
		}
		d, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing"})
		if err != nil || d.Token <= b.Token {
			t.Fatalf("acquire after release: %v %v", d, err)
		}
		// Namespaces are apart: the same name elsewhere is free.
		if _, err := s.Acquire(as("team", true), &pb.AcquireRequest{Name: "billing"}); err != nil {
			t.Fatal(err)
		}
		// The sweeper deletes leases that ran out.
		c.Advance(time.Minute)
		if n, err := s.backend.Sweep(context.Background()); err != nil || n != 2 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		var rows int
		db.Read().QueryRow(`SELECT count(*) FROM sync_leases`).Scan(&rows)
		if s.js == nil && rows != 0 {
			t.Fatalf("%d rows after sweep", rows)
		}
		// The tokens keep growing after every lease went.
		if e, err := s.Acquire(ctx, &pb.AcquireRequest{Name: "billing"}); err != nil || e.Token <= d.Token {
			t.Fatalf("acquire after the sweep: %v %v", e, err)
		}
	})
}

func TestBadInputAndAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		s, _, _ := newBlock(t, auth.Namespaces, be...)
		ctx := as("team", true)
		for name, req := range map[string]*pb.AcquireRequest{
			"no name":   {},
			"long name": {Name: strings.Repeat("n", 256)},
			"short ttl": {Name: "n", TtlMs: 1},
			"long ttl":  {Name: "n", TtlMs: 1 << 62},
			"neg ttl":   {Name: "n", TtlMs: -5},
			"holder":    {Name: "n", Holder: strings.Repeat("h", 256)},
		} {
			if _, err := s.Acquire(ctx, req); errors.Code(err) != 400 {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := s.Renew(ctx, &pb.RenewRequest{Name: "n"}); errors.Code(err) != 400 {
			t.Errorf("renew without id: %v", err)
		}
		for name, c := range map[string]context.Context{
			"anonymous":        context.Background(),
			"member, no admin": as("team", false),
			"other namespace":  as("other", true),
		} {
			if _, err := s.Acquire(c, &pb.AcquireRequest{Namespace: "team", Name: "n"}); errors.Code(err) != 401 && errors.Code(err) != 403 {
				t.Errorf("%s: %v", name, err)
			}
		}
		closed, _, _ := newBlock(t, nil)
		if _, err := closed.Acquire(as("micro", true), &pb.AcquireRequest{Name: "n"}); errors.Code(err) != 403 {
			t.Errorf("no authorizer: %v", err)
		}
	})
}

func TestLeaseLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		s, _, _ := newBlock(t, auth.Namespaces, be...)
		ctx := as("team", true)
		l := Lease{TTL: time.Minute}
		for i := range 5 {
			l.Name, l.ID = "n"+string(rune('a'+i)), "id"
			if _, err := s.backend.Acquire(ctx, "team", l, 5); err != nil {
				t.Fatal(err)
			}
		}
		l.Name = "one-more"
		if _, err := s.backend.Acquire(ctx, "team", l, 5); err != ErrTooMany {
			t.Fatalf("over the limit: %v", err)
		}
	})
}
