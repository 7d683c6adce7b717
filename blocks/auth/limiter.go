package auth

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// Login attempts are limited per account and per client address with token
// buckets: every attempt with a secret takes a token from the bucket of the
// account it names and from the bucket of the address it comes from; a
// successful attempt gives both back. So only failures count, a correct
// secret always works while its buckets are not empty, and once a bucket is
// empty no secret is even hashed (the limit also bounds the CPU and memory
// an attacker can make the server spend on argon2id).
//
// An attempt's token is taken before its secret is checked, so a burst of
// correct logins larger than a bucket would find it empty although nothing
// failed. An attempt refused only because others still in flight hold the
// tokens therefore waits for them to settle instead: a success gives its
// token back and the waiter goes ahead; failures keep theirs and it is
// refused. So concurrent attempts can neither exceed the limit nor be
// refused for failures that did not happen.
//
// Defaults: an account allows 5 failures in a row, then one more per
// minute; an address allows 20, then one more every 6 seconds.
const (
	DefaultAccountBurst    = 5
	DefaultAccountInterval = time.Minute
	DefaultAddressBurst    = 20
	DefaultAddressInterval = 6 * time.Second
)

// maxBuckets bounds each limiter's memory; buckets that have refilled are
// dropped first, and at the bound an arbitrary one goes.
const maxBuckets = 100_000

// Limit is a token bucket's shape: Burst attempts at once, one more every
// Interval. Burst 0 disables the limit.
type Limit struct {
	Burst    int
	Interval time.Duration
}

type bucket struct {
	tokens float64
	at     time.Time
	// pending counts attempts that took a token and have not yet said
	// whether they failed.
	pending int
}

// limiter is a set of token buckets by key, on an injectable clock.
type limiter struct {
	limit Limit
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastPrune time.Time
}

func newLimiter(l Limit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// refill brings b up to date at now.
func (l *limiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(l.limit.Burst), b.tokens+float64(elapsed)/float64(l.limit.Interval))
		b.at = now
	}
}

// wait reports how long until key has a token (0 when it has one now) and
// whether attempts holding its tokens are still in flight.
func (l *limiter) wait(key string, now time.Time) (wait time.Duration, inFlight bool) {
	b, ok := l.buckets[key]
	if !ok {
		return 0, false
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(l.limit.Interval)), b.pending > 0
}

func (l *limiter) take(key string, now time.Time) {
	b, ok := l.buckets[key]
	if !ok {
		l.prune(now)
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens--
	b.pending++
}

// settle ends an attempt that took a token from key, giving the token back
// when the attempt succeeded.
func (l *limiter) settle(key string, ok bool) {
	b, found := l.buckets[key]
	if !found {
		return // dropped at the memory bound: it starts full again
	}
	b.pending = max(0, b.pending-1)
	if ok {
		b.tokens = min(float64(l.limit.Burst), b.tokens+1)
	}
}

// prune drops full buckets (at most once a minute), and one more bucket if
// the map is still at its bound.
func (l *limiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) >= time.Minute || len(l.buckets) >= maxBuckets {
		l.lastPrune = now
		for k, b := range l.buckets {
			l.refill(b, now)
			if b.tokens >= float64(l.limit.Burst) {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxBuckets {
			break
		}
		delete(l.buckets, k)
	}
}

// loginLimiter limits login attempts per account and per address.
type loginLimiter struct {
	accounts, addresses *limiter
	// settled is closed (and replaced) whenever an attempt settles, waking
	// the attempts waiting for one; guarded by accounts.mu.
	settled chan struct{}
	// waiting counts attempts waiting for others to settle (for tests).
	waiting int
}

func newLoginLimiter(account, address Limit, now func() time.Time) *loginLimiter {
	return &loginLimiter{
		accounts:  newLimiter(account, now),
		addresses: newLimiter(address, now),
		settled:   make(chan struct{}),
	}
}

// attempt takes a token for one login attempt on account (namespace/id as
// typed) from address, and returns done, to be called with whether the
// attempt succeeded. When a bucket is empty because of failures it takes
// nothing and returns how long to wait; when it is empty only because of
// attempts still in flight it waits for them (see the top of this file),
// returning ctx's error if ctx ends first.
func (l *loginLimiter) attempt(ctx context.Context, account, address string) (done func(ok bool), wait time.Duration, err error) {
	address = addressKey(address)
	useAccount, useAddress := l.accounts.limit.Burst > 0, l.addresses.limit.Burst > 0
	for {
		// Both limiters share one clock and are always locked in this order.
		l.accounts.mu.Lock()
		l.addresses.mu.Lock()
		now := l.accounts.now()
		wait = 0
		failed := false // a bucket is empty with nothing in flight to refill it
		if useAccount {
			w, inFlight := l.accounts.wait(account, now)
			wait, failed = max(wait, w), failed || w > 0 && !inFlight
		}
		if useAddress {
			w, inFlight := l.addresses.wait(address, now)
			wait, failed = max(wait, w), failed || w > 0 && !inFlight
		}
		if wait == 0 {
			if useAccount {
				l.accounts.take(account, now)
			}
			if useAddress {
				l.addresses.take(address, now)
			}
			l.addresses.mu.Unlock()
			l.accounts.mu.Unlock()
			return l.settler(account, address, useAccount, useAddress), 0, nil
		}
		settled := l.settled
		if !failed {
			l.waiting++
		}
		l.addresses.mu.Unlock()
		l.accounts.mu.Unlock()
		if failed {
			return nil, wait, nil
		}
		select {
		case <-settled:
			err = nil
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.accounts.mu.Lock()
		l.waiting--
		l.accounts.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
}

// settler returns the done func of an attempt that took its tokens.
func (l *loginLimiter) settler(account, address string, useAccount, useAddress bool) func(ok bool) {
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			l.accounts.mu.Lock()
			defer l.accounts.mu.Unlock()
			l.addresses.mu.Lock()
			defer l.addresses.mu.Unlock()
			if useAccount {
				l.accounts.settle(account, ok)
			}
			if useAddress {
				l.addresses.settle(address, ok)
			}
			close(l.settled)
			l.settled = make(chan struct{})
		})
	}
}

// waiters reports how many attempts wait for others to settle.
func (l *loginLimiter) waiters() int {
	l.accounts.mu.Lock()
	defer l.accounts.mu.Unlock()
	return l.waiting
}

// addressKey is the bucket of a client address: the IP without its port,
// and for IPv6 its /64, since one host commonly holds a whole /64.
func addressKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
