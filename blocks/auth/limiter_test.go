package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/auth"
)

func TestLoginLimiter(t *testing.T) {
	c := testkit.NewClock()
	l := newLoginLimiter(Limit{Burst: 3, Interval: time.Minute}, Limit{Burst: 5, Interval: 10 * time.Second}, c.Now)
	fail := func(account, addr string) time.Duration {
		t.Helper()
		done, wait, _ := l.attempt(context.Background(), account, addr)
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
	done, w, _ := l.attempt(context.Background(), "acme/alice", "10.0.0.2:1")
	if w != 0 {
		t.Fatalf("after a minute: wait %v", w)
	}
	done(true) // a success gives its token back
	done, w, _ = l.attempt(context.Background(), "acme/alice", "10.0.0.2:1")
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
	c := testkit.NewClock()
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
	if _, err := e.auth.login(other, "micro", "alice", "right"); err != nil {
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

// TestConcurrentLoginsAreNotFailures: many correct logins at once (a script
// run in parallel, replicas starting together) all succeed. Only failures
// count, so attempts still in flight must not make a correct one look like
// a guess past the limit.
func TestConcurrentLoginsAreNotFailures(t *testing.T) {
	e := newEnv(t, WithLoginLimits(Limit{Burst: 2, Interval: time.Minute}, Limit{Burst: 3, Interval: time.Minute}))
	ctx := context.Background()
	const n = 12
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: "micro"})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("login %d of %d concurrent correct ones: %v", i+1, n, err)
		}
	}
	// Failures still count, concurrent or not: 2 for the account.
	for i := 0; i < n; i++ {
		go func() {
			_, err := e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: "wrong"})
			errs <- err
		}()
	}
	codes := map[int32]int{}
	for i := 0; i < n; i++ {
		codes[merrors.FromError(<-errs, "").Code]++
	}
	if codes[401] != 2 || codes[429] != n-2 {
		t.Fatalf("concurrent wrong secrets: %v, want 2 x 401 and %d x 429", codes, n-2)
	}
}

// TestLimiterWaitsForAttemptsInFlight: an attempt refused only because
// others hold the tokens waits for them: it goes ahead if one succeeds, and
// is refused if they all fail.
func TestLimiterWaitsForAttemptsInFlight(t *testing.T) {
	c := testkit.NewClock()
	l := newLoginLimiter(Limit{Burst: 1, Interval: time.Minute}, Limit{}, c.Now)
	ctx := context.Background()
	type result struct {
		done func(bool)
		wait time.Duration
		err  error
	}
	start := func(ctx context.Context, account string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			done, wait, err := l.attempt(ctx, account, "10.0.0.1:1")
			ch <- result{done, wait, err}
		}()
		return ch
	}
	// waitsFor polls until n attempts wait for others to settle.
	waitsFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); l.waiters() != n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d attempts waiting, want %d", l.waiters(), n)
			}
		}
	}

	first := <-start(ctx, "micro/a")
	if first.wait != 0 || first.err != nil {
		t.Fatalf("first attempt: wait %v, %v", first.wait, first.err)
	}
	second := start(ctx, "micro/a")
	waitsFor(1) // not refused: the first may yet succeed
	first.done(true)
	r := <-second
	if r.wait != 0 || r.err != nil {
		t.Fatalf("after the first succeeded: wait %v, %v", r.wait, r.err)
	}
	third := start(ctx, "micro/a")
	waitsFor(1)
	r.done(false)
	if r := <-third; r.wait != time.Minute {
		t.Fatalf("after the one in flight failed: wait %v, want 1m", r.wait)
	}
	// Once the failure is in, a new attempt is refused at once.
	if _, wait, _ := l.attempt(ctx, "micro/a", "10.0.0.1:1"); wait != time.Minute {
		t.Fatalf("after a failure: wait %v, want 1m", wait)
	}

	// A caller that gives up stops waiting.
	hold := <-start(ctx, "micro/b")
	defer hold.done(true)
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := start(cctx, "micro/b")
	waitsFor(1)
	cancel()
	if r := <-gaveUp; r.err == nil {
		t.Fatalf("a canceled wait returned no error (wait %v)", r.wait)
	}
	waitsFor(0)
}
