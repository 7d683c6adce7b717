package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"micro.dev/micro/internal/testkit"
)

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln := testkit.Listen(t)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// loopbackDNS answers every A question with 127.0.0.1 (and AAAA with
// nothing), over TCP as pebble's VA asks.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	ln := testkit.Listen(t)
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// pebbleCA is Let's Encrypt's test ACME server, in this process, on loopback.
type pebbleCA struct {
	directory string         // the ACME directory URL
	tlsRoots  string         // PEM file trusting the directory's own HTTPS
	issuers   *x509.CertPool // pebble's root and intermediate, from its management API
	log       *testkit.LogBuffer
	acme      *httptest.Server
}

// startPebble runs pebble with its VA checking HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort, resolving names with the DNS server at resolver.
func startPebble(t *testing.T, httpPort, tlsPort int, resolver string) *pebbleCA {
	t.Helper()
	// Read by va.New: validate at once rather than after a random pause.
	// Set for the whole process (t.Setenv would forbid t.Parallel); no
	// other test reads it.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	p := &pebbleCA{log: &testkit.LogBuffer{}}
	logger := log.New(p.log, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)
	p.acme = httptest.NewTLSServer(front.Handler())
	t.Cleanup(p.acme.Close)
	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	p.directory = p.acme.URL + wfe.DirectoryPath

	p.tlsRoots = filepath.Join(t.TempDir(), "acme-roots.pem")
	if err := os.WriteFile(p.tlsRoots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.acme.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p.issuers = x509.NewCertPool()
	for _, path := range []string{wfe.RootCertPath + "0", "/intermediates/0"} {
		rsp, err := mgmt.Client().Get(mgmt.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !p.issuers.AppendCertsFromPEM(b) {
			t.Fatalf("pebble %s: %s %q", path, rsp.Status, b)
		}
	}
	return p
}

// TestACMECertificate: with --domain, the server obtains a certificate from
// a real ACME CA (pebble, on loopback) whose validator checks HTTP-01 on the
// server's plain-HTTP listener, then serves the gateway over HTTPS and the
// proxy over TLS to clients that verify it against the CA. The certificate
// lives in the database: restarted with the CA gone, the server serves it
// again.
func TestACMECertificate(t *testing.T) {
	t.Parallel()
	const domain = "api.micro.test"
	httpPort := freePort(t)
	// TLS-ALPN-01 (which autocert tries first) is validated on a port where
	// nothing listens, so the order falls back to HTTP-01 on our listener.
	pebble := startPebble(t, httpPort, freePort(t), loopbackDNS(t))
	data := filepath.Join(t.TempDir(), "micro.db")
	flags := []string{"--domain", domain, "--http-address", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--acme-directory", pebble.directory, "--acme-ca-roots", pebble.tlsRoots, "--acme-email", "ops@micro.test"}
	s := startServer(t, data, flags...)
	if !strings.HasPrefix(s.gateway, "https://") {
		t.Fatalf("gateway %q: not HTTPS", s.gateway)
	}

	verify := &tls.Config{RootCAs: pebble.issuers, ServerName: domain}
	client := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{TLSClientConfig: verify, ForceAttemptHTTP2: true}}
	rsp, err := client.Get(s.gateway + "/")
	if err != nil {
		t.Fatalf("HTTPS to the gateway: %v\nserver log:\n%s\npebble log:\n%s", err, s.log(), pebble.log.String())
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
	if !strings.Contains(pebble.log.String(), "Attempting to validate w/ HTTP: http://"+domain+":"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/") {
		t.Errorf("pebble did not validate HTTP-01 on our listener:\n%s", pebble.log.String())
	}

	// An authenticated call through the gateway, and gRPC to the proxy,
	// both verified.
	token := s.adminTokenTLS(t, client)
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
	pebble.acme.Close()
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

// adminTokenTLS logs in as the default admin through the HTTPS gateway.
func (s *server) adminTokenTLS(t *testing.T, client *http.Client) string {
	t.Helper()
	rsp, err := client.Post(s.gateway+"/auth/Auth/Token", "application/json",
		strings.NewReader(`{"id":"admin","secret":"micro","options":{"namespace":"micro"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	_, after, ok := strings.Cut(string(b), `"access_token":"`)
	tok, _, _ := strings.Cut(after, `"`)
	if rsp.StatusCode != 200 || !ok || tok == "" {
		t.Fatalf("login over HTTPS: %s %s", rsp.Status, b)
	}
	return tok
}
