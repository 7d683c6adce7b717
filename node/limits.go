package node

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"micro.dev/micro/internal/netlimit"
	"micro.dev/micro/proxy"
)

// Limits bound how long a client may hold a connection without using it,
// and how many it may hold, on the gateway, the dashboard and the proxy.
// Zero fields take the defaults below.
type Limits struct {
	// ReadHeaderTimeout: a request's headers must arrive within it; on
	// the proxy, a new connection must start speaking HTTP/2 within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: a whole request, body included, must arrive within it;
	// a websocket's first message too.
	ReadTimeout time.Duration
	// WriteTimeout: an answer, once ready, must be taken within it; each
	// message of a stream (SSE, websocket) gets it anew.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection waiting for its next
	// request, and a proxy connection with no call in progress.
	IdleTimeout time.Duration
	// MaxConnsPerAddress caps the connections one client IP may hold on
	// each listener; at the cap its longest-idle one is closed for the
	// new one. Negative means no cap.
	MaxConnsPerAddress int
	// MaxStreamsPerConn caps the calls one proxy connection may have in
	// progress at once; past it a client's further calls wait for one to
	// end. The in-process connection the gateway's streams use shares it.
	MaxStreamsPerConn int
}

// Default limits.
const (
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultReadTimeout        = time.Minute
	DefaultWriteTimeout       = time.Minute
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultMaxConnsPerAddress = 512
	DefaultMaxStreamsPerConn  = proxy.DefaultMaxConcurrentStreams
)

func (l Limits) withDefaults() Limits {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConnsPerAddress == 0 {
		l.MaxConnsPerAddress = DefaultMaxConnsPerAddress
	}
	if l.MaxStreamsPerConn <= 0 {
		l.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	return l
}

// listen listens on addr for what ("gateway", "proxy", "dashboard"). The
// node's listeners share one netlimit.Limiter: connections are capped per
// client address and in all (the descriptor limit less a reserve for the
// database), and at a cap the longest-idle one is closed for the new one,
// so a client holding many idle sockets cannot lock out GET /health, the
// admin or the database.
func (n *Node) listen(what, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, fmt.Errorf("no %s address: give host:port, or :0 for any free port", what)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s: %w", what, addr, err)
	}
	if n.connLimit == nil {
		n.connLimit = netlimit.New(netlimit.Config{PerAddress: n.limits.MaxConnsPerAddress, Logger: n.log})
	}
	return n.connLimit.Wrap(lis, what), nil
}

// limitHTTP applies the limits to an HTTP server of the node.
func (n *Node) limitHTTP(s *http.Server) *http.Server {
	s.ReadHeaderTimeout = n.limits.ReadHeaderTimeout
	s.ReadTimeout = n.limits.ReadTimeout
	s.WriteTimeout = n.limits.WriteTimeout
	s.IdleTimeout = n.limits.IdleTimeout
	s.ConnState = netlimit.ConnState
	return s
}
