package proxy

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults for Config's connection bounds.
const (
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxConcurrentStreams bounds the calls (unary or stream) one
	// connection may have in progress at once. grpc-go's own default is
	// unbounded: every stream a client opens costs a goroutine and its
	// buffers. The in-process connection the gateway's streams share is
	// bound by it too, so it is generous.
	DefaultMaxConcurrentStreams = 1000
)

// connectionLimits bound what a client can hold of the proxy: a new
// connection must start speaking HTTP/2 within the handshake timeout; a
// connection with no call in progress is closed after the idle timeout; one
// with calls whose client falls silent is pinged after the idle timeout and
// closed if it does not answer; and a client may not ping more often than
// every 10 s (the enforcement grpc-go applies to keep pings from being a
// flood), though it may ping with no call in progress. A connection may
// have at most MaxConcurrentStreams calls in progress: the limit is
// advertised in HTTP/2's SETTINGS, so a well-behaved client holds further
// calls until one ends, and grpc-go refuses (RST_STREAM REFUSED_STREAM)
// streams past it from one that is not.
func connectionLimits(cfg Config) []grpc.ServerOption {
	streams := cfg.MaxConcurrentStreams
	if streams == 0 {
		streams = DefaultMaxConcurrentStreams
	}
	idle, handshake := cfg.IdleTimeout, cfg.HandshakeTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if handshake <= 0 {
		handshake = DefaultHandshakeTimeout
	}
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(streams),
		grpc.ConnectionTimeout(handshake),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: idle,
			Time:              idle,
			Timeout:           20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
}
