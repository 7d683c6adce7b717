package router

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/client"
)

// Pool tuning.
const (
	// idleAfter is how long an unused connection is kept.
	idleAfter = 5 * time.Minute
	// dropDelay is how long a connection taken out of the pool stays open
	// for calls already using it.
	dropDelay = 30 * time.Second
	// streamWindow and connWindow are the flow-control windows the pool's
	// connections grant the services they call. Setting them turns off
	// grpc-go's bandwidth-delay estimation, whose PING (and the service's
	// PING ack) follows nearly every answer received: a write and a read
	// more on each side of a unary call, one syscall in three of a
	// forwarded call. The estimator would grow a 64 KiB window towards
	// 16 MiB on a fast link; these start where it would end up on one, so
	// a large answer still streams without waiting on window updates.
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// pool keeps one gRPC connection per node address (a connection carries any
// number of concurrent calls), closing those left unused.
type pool struct {
	now func() time.Time

	mu    sync.Mutex
	conns map[string]*pooled
	done  chan struct{}
	once  sync.Once
}

type pooled struct {
	conn     *grpc.ClientConn
	lastUsed time.Time
}

func newPool(now func() time.Time) *pool {
	p := &pool{now: now, conns: map[string]*pooled{}, done: make(chan struct{})}
	go p.reap()
	return p
}

// get returns the connection to addr, dialling it (lazily: grpc.NewClient
// connects on first use) when there is none: over TLS with tc, in
// plaintext when tc is nil. The two are pooled apart, so a service that
// registered another node's forwarding address never has a hop ride its
// plaintext connection.
func (p *pool) get(addr string, tc *tls.Config) (*grpc.ClientConn, error) {
	key := poolKey(addr, tc != nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc, ok := p.conns[key]; ok {
		pc.lastUsed = p.now()
		return pc.conn, nil
	}
	target := client.Target{Address: addr}
	if tc != nil {
		target.TLS = tc.Clone()
	}
	conn, err := client.Connect(target,
		// gRPC itself closes the transport once no call has used it for
		// this long; the reaper then forgets the connection.
		grpc.WithIdleTimeout(idleAfter),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	)
	if err != nil {
		return nil, err
	}
	p.conns[key] = &pooled{conn: conn, lastUsed: p.now()}
	return conn, nil
}

func poolKey(addr string, tls bool) string {
	if tls {
		return "tls:" + addr
	}
	return addr
}

// drop takes addr's connection out of the pool, so the next call dials
// afresh instead of waiting out gRPC's reconnect backoff. Calls still on it
// keep it for dropDelay.
func (p *pool) drop(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, key := range []string{poolKey(addr, false), poolKey(addr, true)} {
		if pc, ok := p.conns[key]; ok {
			delete(p.conns, key)
			time.AfterFunc(dropDelay, func() { pc.conn.Close() })
		}
	}
}

func (p *pool) reap() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.mu.Lock()
		for key, pc := range p.conns {
			// A connection with a call on it (a long stream, say) is never
			// idle, whatever lastUsed says.
			if p.now().Sub(pc.lastUsed) > idleAfter && pc.conn.GetState() == connectivity.Idle {
				pc.conn.Close()
				delete(p.conns, key)
			}
		}
		p.mu.Unlock()
	}
}

func (p *pool) close() {
	p.once.Do(func() { close(p.done) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pc := range p.conns {
		pc.conn.Close()
		delete(p.conns, key)
	}
}

// lostConnection reports a call that failed because its connection broke.
func lostConnection(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return false
	}
	msg := st.Message()
	for _, s := range []string{"error reading from server", "connection reset", "transport is closing", "connection closed", "broken pipe", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// gone reports whether nothing listens at addr any more.
func gone(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
	if err != nil {
		return strings.Contains(err.Error(), "connection refused")
	}
	c.Close()
	return false
}

// Refused reports whether err is a refused connection: the call never
// reached a server, so it may go to another node.
func Refused(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable && strings.Contains(st.Message(), "connection refused")
	}
	return strings.Contains(err.Error(), "connection refused")
}
