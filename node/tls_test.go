package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testCA issues certificates for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "micro test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate with serial number serial, and its key, into
// dir as cert.pem and key.pem, each by a rename as renewal tools do.
func (ca *testCA) issue(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o700)
	for name, block := range map[string]*pem.Block{"key.pem": {Type: "EC PRIVATE KEY", Bytes: kder}, "cert.pem": {Type: "CERTIFICATE", Bytes: der}} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial is the serial number of the certificate addr serves,
// verified against pool.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// waitSerial waits (bounded) for addr to serve the certificate serial.
func waitSerial(t *testing.T, addr string, pool *x509.CertPool, serial int64, after string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := servedSerial(t, addr, pool)
		if got == serial {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still serving serial %d, want %d", after, got, serial)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLSFromFiles serves a given pair on the gateway, dashboard and proxy
// (TLS only), redirects plain HTTP, keeps a plaintext loopback door for
// local services, and picks up a replaced pair without a restart: on a file
// change, and on SIGHUP for a swap the file watch cannot see (a symlinked
// directory switched to a new target, as secrets mounts do).
func TestTLSFromFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	ca.issue(t, filepath.Join(dir, "v1"), 101)
	if err := os.Symlink("v1", filepath.Join(dir, "live")); err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{
		Data: filepath.Join(t.TempDir(), "micro.db"), GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0",
		DashboardAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0",
		TLSCert: filepath.Join(dir, "live", "cert.pem"), TLSKey: filepath.Join(dir, "live", "key.pem"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, addr := range []string{n.GatewayAddr(), n.dashboardLn.Addr().String()} {
		rsp, err := client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("HTTPS %s: %v", addr, err)
		}
		rsp.Body.Close()
		if hsts := rsp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("HTTPS %s: no HSTS (%q)", addr, hsts)
		}
		if rsp.ProtoMajor != 2 {
			t.Errorf("HTTPS %s: %s, want HTTP/2", addr, rsp.Proto)
		}
		// TLS only: plain HTTP on the same port is refused.
		if rsp, err := client.Get("http://" + addr + "/"); err == nil {
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP on %s answered %s", addr, rsp.Status)
			}
		}
	}

	// The plain-HTTP listener sends everything to HTTPS on the gateway's port.
	rsp, err := client.Get("http://" + n.RedirectAddr() + "/store/Store/Read?x=1")
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	_, port, _ := net.SplitHostPort(n.GatewayAddr())
	if loc := rsp.Header.Get("Location"); rsp.StatusCode != http.StatusPermanentRedirect || loc != "https://127.0.0.1:"+port+"/store/Store/Read?x=1" {
		t.Errorf("redirect: %s to %q", rsp.Status, loc)
	}

	// gRPC over TLS (verified), and not in plaintext; local services have
	// their own plaintext loopback door.
	health := func(addr string, creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		_, err = healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := health(n.ProxyAddr(), credentials.NewTLS(&tls.Config{RootCAs: ca.pool, ServerName: "localhost"})); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	if err := health(n.ProxyAddr(), insecure.NewCredentials()); err == nil {
		t.Fatal("the proxy answered plaintext gRPC with TLS on")
	}
	local := n.servicesProxyAddr()
	if !strings.HasPrefix(local, "127.0.0.1:") || local == n.ProxyAddr() {
		t.Fatalf("services' proxy address %q", local)
	}
	if err := health(local, insecure.NewCredentials()); err != nil {
		t.Fatalf("plaintext gRPC on the services' loopback door: %v", err)
	}

	if got := servedSerial(t, n.GatewayAddr(), ca.pool); got != 101 {
		t.Fatalf("serving serial %d, want 101", got)
	}
	// Renewed in place: the watch sees it.
	ca.issue(t, filepath.Join(dir, "v1"), 102)
	waitSerial(t, n.GatewayAddr(), ca.pool, 102, "the files changed")
	waitSerial(t, n.ProxyAddr(), ca.pool, 102, "the files changed (proxy)")

	// A new directory swapped in behind the symlink: only SIGHUP tells.
	ca.issue(t, filepath.Join(dir, "v2"), 103)
	if err := os.Symlink("v2", filepath.Join(dir, "live.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "live.new"), filepath.Join(dir, "live")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, n.GatewayAddr(), ca.pool, 103, "SIGHUP")

	// A broken pair is refused and the last good one kept.
	os.WriteFile(filepath.Join(dir, "v2", "key.pem"), []byte("not a key"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if got := servedSerial(t, n.GatewayAddr(), ca.pool); got != 103 {
		t.Fatalf("after a broken pair: serving serial %d, want the previous 103", got)
	}
}

// TestTLSRefusesBadSetups: TLS settings that cannot work fail the start
// with a message naming the flag.
func TestTLSRefusesBadSetups(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLSCert: "c.pem"}, "--tls-cert and --tls-key go together"},
		{Config{TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"}, "--tls-cert /nonexistent/c.pem"},
		{Config{Domains: []string{"api.example.com"}, TLSCert: "c.pem", TLSKey: "k.pem"}, "not both"},
		{Config{Domains: []string{"https://api.example.com"}}, "no scheme"},
		{Config{Domains: []string{"127.0.0.1"}}, "not IP addresses"},
		{Config{Domains: []string{"localhost"}}, "fully qualified"},
		{Config{Domains: []string{"api.example.com"}, ACMECARoots: "/nonexistent/roots.pem"}, "--acme-ca-roots"},
		{Config{TrustedProxies: []string{"10.0.0.0/99"}}, "trusted proxy"},
	} {
		c.cfg.Data = filepath.Join(t.TempDir(), "micro.db")
		c.cfg.GatewayAddress, c.cfg.ProxyAddress = "127.0.0.1:0", "127.0.0.1:0"
		c.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		n, err := Start(context.Background(), c.cfg)
		if err == nil {
			n.Close()
			t.Errorf("%+v: started", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want it to say %q", c.cfg, err, c.want)
		}
	}
}
