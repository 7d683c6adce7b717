package auth

import (
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

// wait reports how long until key has a token; 0 when it has one now.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.limit.Interval))
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
}

func (l *limiter) give(key string) {
	if b, ok := l.buckets[key]; ok {
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
}

func newLoginLimiter(account, address Limit, now func() time.Time) *loginLimiter {
	return &loginLimiter{accounts: newLimiter(account, now), addresses: newLimiter(address, now)}
}

// attempt takes a token for one login attempt on account (namespace/id as
// typed) from address. When either bucket is empty it takes nothing and
// returns how long to wait. Otherwise it returns done, to be called with
// whether the attempt succeeded.
func (l *loginLimiter) attempt(account, address string) (done func(ok bool), wait time.Duration) {
	address = addressKey(address)
	// Both limiters share one clock and are always locked in this order.
	l.accounts.mu.Lock()
	defer l.accounts.mu.Unlock()
	l.addresses.mu.Lock()
	defer l.addresses.mu.Unlock()
	now := l.accounts.now()
	var useAccount, useAddress = l.accounts.limit.Burst > 0, l.addresses.limit.Burst > 0
	if useAccount {
		wait = max(wait, l.accounts.wait(account, now))
	}
	if useAddress {
		wait = max(wait, l.addresses.wait(address, now))
	}
	if wait > 0 {
		return nil, wait
	}
	if useAccount {
		l.accounts.take(account, now)
	}
	if useAddress {
		l.addresses.take(address, now)
	}
	return func(ok bool) {
		if !ok {
			return
		}
		l.accounts.mu.Lock()
		defer l.accounts.mu.Unlock()
		l.addresses.mu.Lock()
		defer l.addresses.mu.Unlock()
		if useAccount {
			l.accounts.give(account)
		}
		if useAddress {
			l.addresses.give(address)
		}
	}, 0
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
