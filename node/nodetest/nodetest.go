// Package nodetest runs a whole micro node for tests of packages that talk
// to one over the network (the framework's block clients): a real SQLite
// file in a temp dir, the proxy and gateway on loopback ports, every block.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/node"
	authpb "micro.dev/micro/proto/auth"
)

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Server is a node that a test can stop and start again on the same file
// and proxy address (so clients reconnect to the same place).
type Server struct {
	t    testing.TB
	Data string
	*node.Node
	proxy string
}

// Start runs a node on a new temp file; it is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, Data: filepath.Join(t.TempDir(), "micro.db"), proxy: "127.0.0.1:0"}
	s.start()
	t.Cleanup(func() {
		if s.Node != nil {
			s.Node.Close()
		}
	})
	return s
}

func (s *Server) start() {
	s.t.Helper()
	n, err := node.Start(context.Background(), node.Config{Data: s.Data, GatewayAddress: "127.0.0.1:0",
		ProxyAddress: s.proxy, Logger: Quiet()})
	if err != nil {
		s.t.Fatal(err)
	}
	s.Node, s.proxy = n, n.ProxyAddr()
}

// Restart stops the node and starts it again on the same file and proxy
// address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Stop stops the node; Start it again with Restart.
func (s *Server) Stop() {
	s.t.Helper()
	if s.Node != nil {
		if err := s.Node.Close(); err != nil {
			s.t.Fatal(err)
		}
		s.Node = nil
	}
}

// Proxy is the proxy's address, the same across restarts.
func (s *Server) Proxy() string { return s.proxy }

// Client returns a framework client of the node's proxy, logged in as the
// default admin unless opts name credentials, for the service opts.Service
// in namespace opts.Namespace; it is closed when the test ends.
func (s *Server) Client(opts client.Options) *client.GRPCClient {
	s.t.Helper()
	opts.Proxy = s.proxy
	if opts.ID == "" {
		opts.ID, opts.Secret = "admin", "micro"
	}
	if opts.Logger == nil {
		opts.Logger = Quiet()
	}
	c, err := client.New(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// ServiceAccount creates a service account id/secret in namespace ns (as
// the default admin) and returns a client of it: a service of that
// namespace, as the runtime would start it, with the name service.
func (s *Server) ServiceAccount(ns, service string) *client.GRPCClient {
	s.t.Helper()
	admin := s.Client(client.Options{})
	id, secret := service+"-"+ns, "secret-"+service
	req := &authpb.GenerateRequest{Id: id, Secret: secret, Type: "service", Scopes: []string{"service"},
		Options: &authpb.Options{Namespace: ns}}
	ctx := metadata.Set(context.Background(), metadata.Namespace, ns)
	if err := admin.Call(ctx, admin.NewRequest("auth", "Auth.Generate", req), new(authpb.GenerateResponse)); err != nil {
		s.t.Fatalf("creating service account %s in %s: %v", id, ns, err)
	}
	return s.Client(client.Options{Namespace: ns, Service: service, ID: id, Secret: secret})
}
