package client

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"micro.dev/micro/internal/testca"
	"micro.dev/micro/internal/testkit"
)

func TestParseTarget(t *testing.T) {
	ca := testca.New(t)
	for _, tc := range []struct {
		addr     string
		sec      Security
		hostport string
		tls      bool
	}{
		// This machine: plaintext unless told otherwise.
		{"127.0.0.1:8081", Security{}, "127.0.0.1:8081", false},
		{":8081", Security{}, "127.0.0.1:8081", false},
		{"[::]:8081", Security{}, "[::]:8081", false},
		{"0.0.0.0:8081", Security{}, "0.0.0.0:8081", false},
		{"[::1]:8081", Security{}, "[::1]:8081", false},
		{"localhost:8081", Security{}, "localhost:8081", false},
		{"http://localhost:8081", Security{}, "localhost:8081", false},
		{"https://127.0.0.1:8081", Security{}, "127.0.0.1:8081", true},
		{"127.0.0.1:8081", Security{CA: ca.PEM}, "127.0.0.1:8081", true},
		{"127.0.0.1:8081", Security{Insecure: true}, "127.0.0.1:8081", true},
		{"127.0.0.1:443", Security{}, "127.0.0.1:443", true},
		// Anywhere else: TLS unless http:// says plaintext.
		{"10.0.0.5:8081", Security{}, "10.0.0.5:8081", true},
		{"api.example.com:8081", Security{}, "api.example.com:8081", true},
		{"proxy.example.com:443", Security{}, "proxy.example.com:443", true},
		{"https://proxy.example.com", Security{}, "proxy.example.com:443", true},
		{"https://proxy.example.com:9443/", Security{}, "proxy.example.com:9443", true},
		{"proxy.example.com", Security{}, "proxy.example.com:443", true},
		{"HTTP://10.0.0.5:8081", Security{}, "10.0.0.5:8081", false},
	} {
		got, err := ParseTarget(tc.addr, tc.sec)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.addr, err)
			continue
		}
		if got.Address != tc.hostport || (got.TLS != nil) != tc.tls {
			t.Errorf("ParseTarget(%q, %+v) = %q, tls %v; want %q, tls %v", tc.addr, tc.sec, got.Address, got.TLS != nil, tc.hostport, tc.tls)
		}
		if got.TLS != nil && got.TLS.InsecureSkipVerify != tc.sec.Insecure {
			t.Errorf("ParseTarget(%q, %+v): InsecureSkipVerify = %v", tc.addr, tc.sec, got.TLS.InsecureSkipVerify)
		}
	}
	for _, tc := range []struct {
		addr string
		sec  Security
		want string
	}{
		{"", Security{}, "no proxy address"},
		{"ftp://host:21", Security{}, "unknown scheme"},
		{"http://10.0.0.5", Security{}, "no port"},
		{"10.0.0.5:", Security{}, "no port"},
		{"http://10.0.0.5:8081", Security{CA: ca.PEM}, "says plaintext"},
		{"http://10.0.0.5:8081", Security{Insecure: true}, "says plaintext"},
		{"10.0.0.5:8081", Security{CA: []byte("not pem")}, "no PEM certificate"},
	} {
		if _, err := ParseTarget(tc.addr, tc.sec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTarget(%q) error = %v, want %q", tc.addr, err, tc.want)
		}
	}
}

func TestSecurityFromEnv(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(good, ca.PEM, 0o600)
	os.WriteFile(bad, []byte("hello"), 0o600)
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	s, err := SecurityFromEnv(env(map[string]string{EnvProxyCA: good, EnvProxyInsecure: "true"}))
	if err != nil || string(s.CA) != string(ca.PEM) || !s.Insecure {
		t.Errorf("SecurityFromEnv = %+v, %v", s, err)
	}
	if s, err := SecurityFromEnv(env(nil)); err != nil || s.CA != nil || s.Insecure {
		t.Errorf("SecurityFromEnv(nothing) = %+v, %v", s, err)
	}
	for kv, want := range map[[2]string]string{
		{EnvProxyCA, filepath.Join(dir, "missing.pem")}: "reading the CA file",
		{EnvProxyCA, bad}:             "no PEM certificate",
		{EnvProxyInsecure, "perhaps"}: "give true or false",
	} {
		if _, err := SecurityFromEnv(env(map[string]string{kv[0]: kv[1]})); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SecurityFromEnv(%s=%s) error = %v, want %q", kv[0], kv[1], err, want)
		}
	}
}

// startHealth serves the gRPC health service on a loopback port, over TLS
// when creds are given.
func startHealth(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	return testkit.Serve(t, s)
}

// check makes one health call through a connection to addr made by Dial.
func check(addr string, sec Security) error {
	conn, err := Dial(addr, sec)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestDialTLS runs the dialer against real TLS and plaintext servers: the
// CA makes the handshake succeed, the system's roots refuse the test CA,
// insecure works only when asked for, and nothing ever falls back from TLS
// to plaintext or back.
func TestDialTLS(t *testing.T) {
	ca := testca.New(t)
	tlsAddr := startHealth(t, grpc.Creds(credentials.NewTLS(ca.ServerTLS(t, "127.0.0.1", "localhost"))))
	plainAddr := startHealth(t)

	if err := check(tlsAddr, Security{CA: ca.PEM}); err != nil {
		t.Errorf("TLS with the CA: %v", err)
	}
	if err := check("https://localhost:"+port(tlsAddr), Security{CA: ca.PEM}); err != nil {
		t.Errorf("TLS by name with the CA: %v", err)
	}
	if err := check("https://"+tlsAddr, Security{}); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Errorf("TLS against the system's roots: err = %v, want a certificate error", err)
	}
	if err := check(tlsAddr, Security{Insecure: true}); err != nil {
		t.Errorf("TLS insecure: %v", err)
	}
	// A loopback address without a CA is plaintext: it fails against the
	// TLS server rather than switching to TLS.
	if err := check(tlsAddr, Security{}); err == nil {
		t.Error("plaintext to a TLS server succeeded")
	}
	// A TLS target never drops to plaintext for a server that has no TLS.
	if err := check(plainAddr, Security{CA: ca.PEM}); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("TLS to a plaintext server: err = %v, want a TLS error", err)
	}
	if err := check(plainAddr, Security{}); err != nil {
		t.Errorf("plaintext to a plaintext server: %v", err)
	}
	// A certificate for another name is refused even with the right CA.
	other := startHealth(t, grpc.Creds(credentials.NewTLS(ca.ServerTLS(t, "proxy.example.com"))))
	if err := check(other, Security{CA: ca.PEM}); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Errorf("certificate for another name: err = %v, want a certificate error", err)
	}
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// TestNewReadsSecurityFromEnv: a service's client (MICRO_PROXY) trusts the
// CA in MICRO_PROXY_CA, and a CA file it cannot use stops it from starting
// rather than leaving it to the system's roots.
func TestNewReadsSecurityFromEnv(t *testing.T) {
	ca := testca.New(t)
	addr := startHealth(t, grpc.Creds(credentials.NewTLS(ca.ServerTLS(t, "127.0.0.1"))))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o600)

	t.Setenv(EnvProxyCA, caFile)
	c, err := New(Options{Proxy: addr, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(c.proxy).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health over TLS with MICRO_PROXY_CA: %v", err)
	}

	t.Setenv(EnvProxyCA, filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := New(Options{Proxy: addr, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), EnvProxyCA) {
		t.Fatalf("New with a missing CA file: %v", err)
	}
}
