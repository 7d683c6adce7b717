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
)

// connectionLimits bound what a client can hold of the proxy: a new
// connection must start speaking HTTP/2 within the handshake timeout; a
// connection with no call in progress is closed after the idle timeout; one
// with calls whose client falls silent is pinged after the idle timeout and
// closed if it does not answer; and a client may not ping more often than
// every 10 s (the enforcement grpc-go applies to keep pings from being a
// flood), though it may ping with no call in progress.
func connectionLimits(cfg Config) []grpc.ServerOption {
	idle, handshake := cfg.IdleTimeout, cfg.HandshakeTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if handshake <= 0 {
		handshake = DefaultHandshakeTimeout
	}
	return []grpc.ServerOption{
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
