// Package netlimit bounds what clients can hold of a server's connections.
// A Limiter, shared by a server's listeners, caps the connections open at
// once from one address and in all, the total leaving descriptors in
// reserve for the database and the rest of the process. When a cap is
// reached, or descriptors run out all the same, it closes the connection
// idle longest (one that has asked nothing, or waits between requests) to
// let the new one in, as nginx reuses keep-alive connections: a client
// holding hundreds of idle sockets then cannot lock out a health check or
// the admin. With nothing idle to close, a new connection is closed at once
// rather than left waiting in the kernel's queue.
package netlimit

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reserve is how many descriptors the default total cap leaves to the
// rest of the process: the database's files and connections, the runtime's
// pipes, outgoing calls.
const Reserve = 64

// Config configures a Limiter.
type Config struct {
	// PerAddress caps the connections open at once from one client IP,
	// over all the listeners; zero or less means no cap.
	PerAddress int
	// Total caps the connections open at once over all the listeners;
	// zero means the process's descriptor limit less Reserve, less than
	// zero no cap.
	Total  int
	Logger *slog.Logger
}

// Limiter applies a Config to the listeners it wraps.
type Limiter struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	byAddr  map[string]int
	reserve *os.File // a descriptor kept free to accept and close when none is left

	warnMu   sync.Mutex
	warnedAt time.Time
	shed     int // connections closed since the last warning
}

// New returns a Limiter for cfg.
func New(cfg Config) *Limiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Total == 0 {
		cfg.Total = -1
		if n := descriptorLimit(); n > 0 {
			cfg.Total = max(n-Reserve, 1)
		}
	}
	lm := &Limiter{cfg: cfg, log: cfg.Logger, conns: map[*Conn]struct{}{}, byAddr: map[string]int{}}
	lm.reserve, _ = os.Open(os.DevNull)
	return lm
}

// Close releases the reserved descriptor.
func (lm *Limiter) Close() {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if lm.reserve != nil {
		lm.reserve.Close()
		lm.reserve = nil
	}
}

// Wrap returns l applying the limits; name names it in logs.
func (lm *Limiter) Wrap(l net.Listener, name string) net.Listener {
	return &listener{Listener: l, lm: lm, name: name}
}

type listener struct {
	net.Listener
	lm   *Limiter
	name string
}

// Accept returns the next connection, making room for it as the package
// describes.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !outOfDescriptors(err) {
				return nil, err
			}
			// Close the longest-idle connection and accept again; with
			// none idle, accept on the reserved descriptor and close at
			// once, so the client is told now instead of waiting.
			if !l.lm.evict("") {
				l.shedOne()
			}
			continue
		}
		if tracked := l.lm.track(c, l.name); tracked != nil {
			return tracked, nil
		}
	}
}

// track counts c against its address and the total; past a cap it makes
// room or refuses c (nil).
func (lm *Limiter) track(c net.Conn, name string) *Conn {
	addr := host(c.RemoteAddr())
	lm.mu.Lock()
	addrFull := lm.cfg.PerAddress > 0 && lm.byAddr[addr] >= lm.cfg.PerAddress
	totalFull := lm.cfg.Total > 0 && len(lm.conns) >= lm.cfg.Total
	lm.mu.Unlock()
	switch {
	case addrFull && !lm.evict(addr):
		c.Close()
		lm.noteShed(name, "connections from one address are over the cap (--max-conns-per-address)")
		return nil
	case totalFull && !lm.evict(""):
		c.Close()
		lm.noteShed(name, "connections are over the total the descriptor limit allows (raise ulimit -n)")
		return nil
	}
	tc := &Conn{Conn: c, lm: lm, addr: addr}
	tc.setIdle(true) // it has asked nothing yet
	lm.mu.Lock()
	lm.conns[tc] = struct{}{}
	lm.byAddr[addr]++
	lm.mu.Unlock()
	return tc
}

// evict closes the connection idle longest, of addr or of any address
// when addr is "". It reports whether there was one.
func (lm *Limiter) evict(addr string) bool {
	lm.mu.Lock()
	var oldest *Conn
	var since int64
	for c := range lm.conns {
		if (addr != "" && c.addr != addr) || !c.idle.Load() {
			continue
		}
		if s := c.idleSince.Load(); oldest == nil || s < since {
			oldest, since = c, s
		}
	}
	lm.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close()
	return true
}

// shedOne accepts a connection on the reserved descriptor and closes it.
func (l *listener) shedOne() {
	lm := l.lm
	lm.mu.Lock()
	if lm.reserve != nil {
		lm.reserve.Close()
		lm.reserve = nil
	}
	lm.mu.Unlock()
	if c, err := l.Listener.Accept(); err == nil {
		c.Close()
	} else {
		time.Sleep(10 * time.Millisecond) // no descriptor at all: do not spin
	}
	lm.mu.Lock()
	if lm.reserve == nil {
		lm.reserve, _ = os.Open(os.DevNull)
	}
	lm.mu.Unlock()
	lm.noteShed(l.name, "out of file descriptors and no idle connection to close (raise ulimit -n)")
}

// noteShed logs refused connections at most once a minute, with a count.
func (lm *Limiter) noteShed(name, why string) {
	lm.warnMu.Lock()
	defer lm.warnMu.Unlock()
	lm.shed++
	if time.Since(lm.warnedAt) < time.Minute {
		return
	}
	lm.log.Warn(name+" refused connections", "reason", why, "refused", lm.shed)
	lm.warnedAt, lm.shed = time.Now(), 0
}

func (lm *Limiter) untrack(c *Conn) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if _, ok := lm.conns[c]; !ok {
		return
	}
	delete(lm.conns, c)
	if lm.byAddr[c.addr]--; lm.byAddr[c.addr] <= 0 {
		delete(lm.byAddr, c.addr)
	}
}

// Conn is a connection a Listener accepted.
type Conn struct {
	net.Conn
	lm        *Limiter
	addr      string
	idle      atomic.Bool
	idleSince atomic.Int64 // unix nanoseconds
	closeOnce sync.Once
}

// Read marks the connection busy once a client sends something; the
// server marks it idle again between requests (ConnState).
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.idle.Load() {
		c.idle.Store(false)
	}
	return n, err
}

// Close closes the connection and frees its place.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.lm.untrack(c) })
	return err
}

func (c *Conn) setIdle(idle bool) {
	if idle {
		c.idleSince.Store(time.Now().UnixNano())
	}
	c.idle.Store(idle)
}

// ConnState is an http.Server's ConnState hook: a connection waiting for
// its next request may be closed to make room; a hijacked one (a
// websocket) never is.
func ConnState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*Conn)
	if !ok {
		return
	}
	switch s {
	case http.StateIdle:
		lc.setIdle(true)
	case http.StateActive, http.StateHijacked:
		lc.setIdle(false)
	}
}

func host(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
