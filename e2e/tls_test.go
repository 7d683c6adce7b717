package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"micro.dev/micro/internal/testacme"
	"micro.dev/micro/internal/testkit"
)

// TestACMECertificate: with --domain, the server obtains a certificate from
// a real ACME CA (pebble, on loopback) whose validator checks HTTP-01 on the
// server's plain-HTTP listener, then serves the gateway over HTTPS and the
// proxy over TLS to clients that verify it against the CA. The certificate
// lives in the database: restarted with the CA gone, the server serves it
// again.
func TestACMECertificate(t *testing.T) {
	t.Parallel()
	const domain = "api.micro.test"
	httpPort := testacme.FreePort(t)
	// TLS-ALPN-01 (which autocert tries first) is validated on a port where
	// nothing listens, so the order falls back to HTTP-01 on our listener.
	pebble := testacme.Start(t, httpPort, testacme.FreePort(t), testacme.LoopbackDNS(t))
	data := filepath.Join(t.TempDir(), "micro.db")
	flags := []string{"--domain", domain, "--http-address", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--acme-directory", pebble.Directory, "--acme-ca-roots", pebble.TLSRoots, "--acme-email", "ops@micro.test"}
	s := startServer(t, data, flags...)
	if !strings.HasPrefix(s.gateway, "https://") {
		t.Fatalf("gateway %q: not HTTPS", s.gateway)
	}

	verify := &tls.Config{RootCAs: pebble.Issuers, ServerName: domain}
	client := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{TLSClientConfig: verify, ForceAttemptHTTP2: true}}
	rsp, err := client.Get(s.gateway + "/")
	if err != nil {
		t.Fatalf("HTTPS to the gateway: %v\nserver log:\n%s\npebble log:\n%s", err, s.log(), pebble.Log.String())
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(body), `"version"`) || rsp.ProtoMajor != 2 {
		t.Fatalf("GET / over HTTPS: %s %s %s", rsp.Proto, rsp.Status, body)
	}
	if rsp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on an HTTPS answer")
	}
	leaf := rsp.TLS.PeerCertificates[0]
	if !strings.Contains(pebble.Log.String(), "Attempting to validate w/ HTTP: http://"+domain+":"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/") {
		t.Errorf("pebble did not validate HTTP-01 on our listener:\n%s", pebble.Log.String())
	}

	// An authenticated call through the gateway, and gRPC to the proxy,
	// both verified.
	token := testkit.AdminToken(t, client, s.gateway)
	req, _ := http.NewRequest("POST", s.gateway+"/store/Store/Write", strings.NewReader(`{"record":{"key":"k","value":"dg=="}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if rsp, err := client.Do(req); err != nil || rsp.StatusCode/100 != 2 {
		t.Fatalf("store write over HTTPS: %v %v", rsp, err)
	} else {
		rsp.Body.Close()
	}
	conn, err := grpc.NewClient(s.proxy, grpc.WithTransportCredentials(credentials.NewTLS(verify)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("gRPC over TLS to the proxy: %v", err)
	}
	conn.Close()

	// The plain-HTTP listener redirects everything but challenges.
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if rsp, err := noFollow.Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/health"); err != nil || rsp.StatusCode != http.StatusPermanentRedirect ||
		!strings.HasPrefix(rsp.Header.Get("Location"), "https://127.0.0.1:") {
		t.Fatalf("plain HTTP: %v %v", rsp, err)
	}

	// Restarted on the same file with the CA gone: the cached certificate.
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	pebble.ACME.Close()
	s = startServer(t, data, flags...)
	client.CloseIdleConnections()
	rsp, err = client.Get(s.gateway + "/health")
	if err != nil {
		t.Fatalf("HTTPS after a restart without the CA: %v\n%s", err, s.log())
	}
	rsp.Body.Close()
	if again := rsp.TLS.PeerCertificates[0]; !again.Equal(leaf) {
		t.Fatalf("restart served another certificate (serial %v, was %v)", again.SerialNumber, leaf.SerialNumber)
	}
}
