package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "micro.dev/micro/proto/auth"
)

func TestLoginLimiter(t *testing.T) {
	c := newClock()
	l := newLoginLimiter(Limit{Burst: 3, Interval: time.Minute}, Limit{Burst: 5, Interval: 10 * time.Second}, c.Now)
	fail := func(account, addr string) time.Duration {
		t.Helper()
		done, wait := l.attempt(account, addr)
		if wait == 0 {
			done(false)
		}
		return wait
	}
	for i := 0; i < 3; i++ {
		if w := fail("acme/alice", "10.0.0.1:1000"); w != 0 {
			t.Fatalf("failure %d limited already (%v)", i+1, w)
		}
	}
	// The account's bucket is empty: one more per minute.
	if w := fail("acme/alice", "10.0.0.2:1"); w != time.Minute {
		t.Fatalf("4th attempt on the account: wait %v, want 1m", w)
	}
	c.Advance(30 * time.Second)
	if w := fail("acme/alice", "10.0.0.2:1"); w != 30*time.Second {
		t.Fatalf("after 30s: wait %v, want 30s", w)
	}
	c.Advance(30 * time.Second)
	done, w := l.attempt("acme/alice", "10.0.0.2:1")
	if w != 0 {
		t.Fatalf("after a minute: wait %v", w)
	}
	done(true) // a success gives its token back
	done, w = l.attempt("acme/alice", "10.0.0.2:1")
	if w != 0 {
		t.Fatal("a success counted against the account")
	}
	done(false)

	// The address (whose 3 failures above have refilled): 5 failures
	// whatever the account, and the port does not matter.
	for i := 0; i < 5; i++ {
		if w := fail(fmt.Sprint("acme/u", i), "10.0.0.1:2000"); w != 0 {
			t.Fatalf("address failure %d limited (%v)", i, w)
		}
	}
	if w := fail("acme/fresh", "10.0.0.1:3000"); w != 10*time.Second {
		t.Fatalf("address over its burst: wait %v, want 10s", w)
	}
	if w := fail("acme/fresh", "10.0.0.3:1"); w != 0 {
		t.Fatalf("another address is limited too (%v)", w)
	}
	// An IPv6 host is its /64.
	if addressKey("[2001:db8::1]:80") != addressKey("[2001:db8::ffff]:81") || addressKey("[2001:db8:0:1::1]:80") == addressKey("[2001:db8::1]:80") {
		t.Fatal("IPv6 addresses not grouped by /64")
	}
}

func TestLimiterBoundsItsMemory(t *testing.T) {
	c := newClock()
	l := newLimiter(Limit{Burst: 2, Interval: time.Second}, c.Now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < maxBuckets+10; i++ {
		l.take(fmt.Sprint(i), c.Now())
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets, bound %d", len(l.buckets), maxBuckets)
	}
	c.Advance(2 * time.Minute) // all refilled: the next prune drops them
	l.take("new", c.Now())
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after every other refilled", len(l.buckets))
	}
}

func TestLoginIsRateLimited(t *testing.T) {
	e := newEnv(t, WithLoginLimits(Limit{Burst: 3, Interval: time.Minute}, Limit{Burst: 6, Interval: time.Minute}))
	ctx := context.Background()
	e.generate(t, "micro", "alice", "user", "right")
	try := func(id, secret string) error {
		_, err := e.authc.Token(ctx, &pb.TokenRequest{Id: id, Secret: secret})
		return err
	}
	for i := 0; i < 3; i++ {
		wantCode(t, "wrong secret", try("alice", "wrong"), 401, "invalid account id or secret")
	}
	// Even the right secret waits now, and is not checked.
	wantCode(t, "limited", try("alice", "right"), 429, "too many failed login attempts; try again in 60s")
	e.clock.Advance(time.Minute)
	wantCode(t, "after a minute", try("alice", "right"), 0, "")
	// Other accounts from this address still have the address's budget.
	wantCode(t, "other account", try("admin", "micro"), 0, "")
	// Unknown accounts spend the address's budget: 3 failures are gone,
	// one came back in the minute, so 4 more empty it.
	for i := 0; i < 4; i++ {
		wantCode(t, "unknown", try(fmt.Sprint("ghost", i), "x"), 401, "")
	}
	wantCode(t, "address limited", try("admin", "micro"), 429, "too many failed login attempts")
	// The limit is per address: another one logs in.
	other := withClientAddr(ctx, "192.0.2.7:4000")
	if _, err := e.auth.login(other, "micro", "admin", "micro"); err != nil {
		t.Fatalf("login from another address: %v", err)
	}
	// Changing a secret with the old one counts as a guess too.
	e.clock.Advance(time.Hour)
	alice := inNS(as(ctx, e.login(t, "micro", "alice", "right").AccessToken), "micro")
	for i := 0; i < 3; i++ {
		_, err := e.accounts.ChangeSecret(alice, &pb.ChangeSecretRequest{Id: "alice", OldSecret: "guess", NewSecret: "n"})
		wantCode(t, "guess old secret", err, 401, "")
	}
	_, err := e.accounts.ChangeSecret(alice, &pb.ChangeSecretRequest{Id: "alice", OldSecret: "right", NewSecret: "n"})
	wantCode(t, "change secret limited", err, 429, "too many failed attempts")
}
