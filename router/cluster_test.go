package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testca"
	regpb "micro.dev/micro/proto/registry"
)

// owned is service with each node owned by the micro node named beside it.
func owned(name string, nodes map[*node]string) *regpb.Service {
	s := service(name)
	for n, owner := range nodes {
		s.Nodes = append(s.Nodes, &regpb.Node{Id: n.name, Address: n.addr, Metadata: map[string]string{OwnerKey: owner}})
	}
	return s
}

// TestRoutesThroughOwningNode: in a cluster, a service node owned by
// another micro node is reached through that node's proxy (one hop, marked
// forwarded); this node's own are dialled; a forwarded call goes to this
// node's own only; a node whose owner is unknown is dialled directly.
func TestRoutesThroughOwningNode(t *testing.T) {
	mine := startNode(t, "mine")
	theirs := startNode(t, "theirs")        // listens where only node B reaches
	proxyB := startNode(t, "proxy-of-b")    // node B's proxy
	orphan := startNode(t, "orphan-direct") // owner C is not up
	members := map[string]string{"B": proxyB.addr}
	via := func(id string) (string, bool) { a, ok := members[id]; return a, ok }

	reg := newFakeRegistry()
	reg.set("micro", owned("echo", map[*node]string{mine: "A", theirs: "B"}))
	r := New(Config{Registry: reg, Self: "A", Via: via})
	defer r.Close()

	counts := map[string]int{}
	for range 6 {
		got, err := call(t, r, "micro", "echo")
		if err != nil {
			t.Fatal(err)
		}
		counts[got]++
	}
	if counts["mine"] != 3 || counts["proxy-of-b"] != 3 || counts["theirs"] != 0 {
		t.Fatalf("calls %v: want half to this node's own, half to node B's proxy, none dialled at B's service", counts)
	}
	proxyB.mu.Lock()
	by := proxyB.md.Get(ForwardedHeader)
	proxyB.mu.Unlock()
	if len(by) != 1 || by[0] != "A" {
		t.Fatalf("the hop to B's proxy is not marked forwarded by A: %v", by)
	}

	// A call B forwarded here goes to this node's own only: no bounce.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fwd := grpcmd.NewIncomingContext(ctx, grpcmd.Pairs(ForwardedHeader, "B"))
	for range 4 {
		route, err := r.Resolve(fwd, "micro", "echo", "Echo.Call")
		if err != nil {
			t.Fatal(err)
		}
		var out codec.Frame
		if err := route.Conn.Invoke(fwd, "/echo.Echo/Call", &codec.Frame{Data: []byte("x")}, &out, grpc.CallContentSubtype(codec.Bytes)); err != nil || string(out.Data) != "mine" {
			t.Fatalf("forwarded call: %q %v", out.Data, err)
		}
	}
	// Forwarded here for a service this node has no node of: a 503, not
	// another hop.
	reg.set("micro", owned("remote", map[*node]string{theirs: "B"}))
	if _, err := r.Resolve(fwd, "micro", "remote", "Echo.Call"); errors.FromError(err, "").Code != 503 {
		t.Fatalf("forwarded call to a service of another node: %v", err)
	}

	// The owner is not a known member: dial the service where it
	// registered.
	reg.set("micro", owned("lost", map[*node]string{orphan: "C"}))
	if got, err := call(t, r, "micro", "lost"); err != nil || got != "orphan-direct" {
		t.Fatalf("owner unknown: %q %v", got, err)
	}

	// Without Via (no cluster), owner metadata changes nothing.
	plain := New(Config{Registry: reg})
	defer plain.Close()
	reg.set("micro", owned("echo", map[*node]string{theirs: "B"}))
	if got, err := call(t, plain, "micro", "echo"); err != nil || !strings.Contains(got, "theirs") {
		t.Fatalf("no cluster: %q %v", got, err)
	}
}

// nodeTLS is the client side of a cluster node's certificate from ca,
// trusting peers' certificates from roots.
func nodeTLS(t *testing.T, ca *testca.CA, roots *x509.CertPool) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair(ca.Issue(t, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// TestHopsOverTLS: with ViaTLS, the hop to another node's forwarding
// listener is mutual TLS: it goes through with the cluster's certificate
// and fails, never falling back to plaintext or to dialling the service,
// with no certificate, a stranger's, or a peer the cluster's CA did not
// sign. Services' own nodes are still dialled in plaintext.
func TestHopsOverTLS(t *testing.T) {
	ca, stranger := testca.New(t), testca.New(t)
	serverTLS := ca.ServerTLS(t, "127.0.0.1")
	serverTLS.ClientAuth, serverTLS.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	proxyB := startNode(t, "proxy-of-b", grpc.Creds(credentials.NewTLS(serverTLS)))
	impostor := startNode(t, "impostor", grpc.Creds(credentials.NewTLS(stranger.ServerTLS(t, "127.0.0.1"))))
	theirs, mine := startNode(t, "theirs"), startNode(t, "mine")

	reg := newFakeRegistry()
	reg.set("micro", owned("echo", map[*node]string{theirs: "B"}))
	reg.set("micro", owned("local", map[*node]string{mine: "A"}))
	members := map[string]string{"B": proxyB.addr}
	via := func(id string) (string, bool) { a, ok := members[id]; return a, ok }
	router := func(viaTLS *tls.Config) *Router {
		r := New(Config{Registry: reg, Self: "A", Via: via, ViaTLS: viaTLS})
		t.Cleanup(r.Close)
		return r
	}

	good := router(nodeTLS(t, ca, ca.Pool()))
	if got, err := call(t, good, "micro", "echo"); err != nil || got != "proxy-of-b" {
		t.Fatalf("hop over mutual TLS: %q %v", got, err)
	}
	if got, err := call(t, good, "micro", "local"); err != nil || got != "mine" {
		t.Fatalf("this node's own service, in plaintext: %q %v", got, err)
	}

	for name, r := range map[string]*Router{
		"plaintext":                router(nil),
		"no client certificate":    router(&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}),
		"a stranger's certificate": router(nodeTLS(t, stranger, ca.Pool())),
	} {
		got, err := call(t, r, "micro", "echo")
		if err == nil || errors.FromError(err, "").Code != 503 {
			t.Errorf("%s: %q %v; want the call to fail (503)", name, got, err)
		}
	}
	// A node answering at B's address with a certificate the cluster's CA
	// did not sign is not B.
	members["B"] = impostor.addr
	if got, err := call(t, router(nodeTLS(t, ca, ca.Pool())), "micro", "echo"); err == nil {
		t.Fatalf("a hop to a peer outside the cluster's CA went through: %q", got)
	}
	theirs.mu.Lock()
	defer theirs.mu.Unlock()
	if theirs.md != nil {
		t.Fatal("the service B owns was dialled directly: a failed hop fell back")
	}
}
