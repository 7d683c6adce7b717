package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/auth"
)

// TestBootstrapOnceAcrossNodes: three nodes of an R3 cluster do their first
// start at the same moment, each with its own key and admin; exactly one
// does it, and all end up with one signing key and one admin.
func TestBootstrapOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	backends := make([]*jsBackend, len(servers))
	for i, s := range servers {
		backends[i] = newJetStream(natstest.Connect(t, s), 3, nil)
		t.Cleanup(func() { backends[i].Close() })
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
	)
	for i, b := range backends {
		wg.Go(func() {
			now := time.Now()
			admin := Account{Namespace: "micro", ID: AdminID, UID: newUID(), Type: fauth.TypeUser, Name: AdminID, Created: now, Updated: now}
			first, err := b.Bootstrap(t.Context(), generateKey("micro", now.Add(time.Duration(i))), admin)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if first {
				firsts++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d nodes did the first start, want 1", firsts)
	}
	var uid, key string
	for i, b := range backends {
		keys, err := b.Keys(t.Context(), "micro")
		if err != nil || len(keys) != 1 {
			t.Fatalf("node %d: %d keys, %v", i, len(keys), err)
		}
		accs, err := b.Accounts(t.Context(), "micro")
		if err != nil || len(accs) != 1 {
			t.Fatalf("node %d: %d accounts, %v", i, len(accs), err)
		}
		if i > 0 && (keys[0].ID != key || accs[0].UID != uid) {
			t.Fatalf("node %d sees key %s admin %s, node 0 key %s admin %s", i, keys[0].ID, accs[0].UID, key, uid)
		}
		key, uid = keys[0].ID, accs[0].UID
		// A later start does nothing.
		if first, err := b.Bootstrap(t.Context(), generateKey("micro", time.Now()), Account{Namespace: "micro", ID: "other"}); first || err != nil {
			t.Fatalf("node %d bootstrapped again: %v %v", i, first, err)
		}
	}
}

// TestClusterR3: the block on three nodes of an R3 cluster. A login through
// one node refreshes through another; the same refresh token presented to
// two nodes at once is exchanged once and the session is revoked; an
// account deleted or a rule changed through one node takes effect on the
// others (their caches forget).
func TestClusterR3(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	nodes := make([]*env, len(servers))
	for i, s := range servers {
		nodes[i] = newEnv(t, WithJetStream(natstest.Connect(t, s), 3))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()

	a.generate(t, "acme", "alice", "user", "pw")
	tok := b.login(t, "acme", "alice", "pw")
	if _, err := c.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken}); err != nil {
		t.Fatalf("inspect through another node: %v", err)
	}

	// One refresh token, two nodes at once: one exchange.
	var (
		wg      sync.WaitGroup
		results [2]error
	)
	for i, n := range []*env{b, c} {
		wg.Go(func() {
			_, results[i] = n.authc.Token(ctx, &pb.TokenRequest{RefreshToken: tok.RefreshToken})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		} else {
			wantCode(t, "the other exchange", err, 401, "")
		}
	}
	if ok != 1 {
		t.Fatalf("%d exchanges of one refresh token succeeded: %v", ok, results)
	}
	// Presented again anywhere: reused, so the session is revoked.
	_, err := a.authc.Token(ctx, &pb.TokenRequest{RefreshToken: tok.RefreshToken})
	wantCode(t, "reuse", err, 401, "")

	// Deleting the account through A revokes its token on C, whose cache
	// held the account.
	tok = a.login(t, "acme", "alice", "pw")
	if _, err := c.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
	_, err = a.accounts.Delete(as(ctx, a.admin(t)), &pb.DeleteAccountRequest{Id: "alice", Options: &pb.Options{Namespace: "acme"}})
	wantCode(t, "delete", err, 0, "")
	eventually(t, "token revoked on another node", func() error {
		_, err := c.authc.Inspect(ctx, &pb.InspectRequest{Token: tok.AccessToken})
		if err == nil {
			return errors.New("still accepted")
		}
		return nil
	})

	// A rule created through A is what C enforces.
	_, err = a.rules.Create(as(ctx, a.admin(t)), &pb.CreateRequest{Rule: &pb.Rule{
		Id: "deny-all", Scope: "*", Resource: &pb.Resource{Type: "*", Name: "*", Endpoint: "*"}, Access: pb.Access_DENIED, Priority: 1000,
	}, Options: &pb.Options{Namespace: "acme"}})
	wantCode(t, "create rule", err, 0, "")
	eventually(t, "rule on another node", func() error {
		rules, err := c.auth.rulesOf(ctx, "acme")
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.ID == "deny-all" {
				return nil
			}
		}
		return errors.New("not there")
	})
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v after 10s", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
