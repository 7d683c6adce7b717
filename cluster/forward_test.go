package cluster

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"micro.dev/micro/internal/testca"
)

// TestForwardAddress: the forwarding listener binds on the routes' host
// unless --cluster-forward says where.
func TestForwardAddress(t *testing.T) {
	for _, tc := range []struct{ listen, forward, want string }{
		{"nats://10.0.0.5:6222", "", "10.0.0.5:6223"},
		{"nats://0.0.0.0:7000", "", "0.0.0.0:6223"},
		{":6222", "", ":6223"},
		{"nats://10.0.0.5:6222", "127.0.0.1:0", "127.0.0.1:0"},
	} {
		got, err := Config{Listen: tc.listen}.ForwardAddress(tc.forward)
		if err != nil || got != tc.want {
			t.Errorf("ForwardAddress(%q, %q) = %q, %v; want %q", tc.listen, tc.forward, got, err, tc.want)
		}
	}
	if _, err := (Config{Listen: ":6222"}).ForwardAddress("6223"); err == nil || !strings.Contains(err.Error(), "--cluster-forward") {
		t.Errorf("a port alone: %v", err)
	}
}

// TestForwardTLS: without cluster TLS the hop is plaintext (nil); with it
// both sides carry the route certificate, the server requires the
// caller's, and both trust --cluster-tls-ca; unreadable files fail.
func TestForwardTLS(t *testing.T) {
	if s, c, err := (Config{}).ForwardTLS(); s != nil || c != nil || err != nil {
		t.Fatalf("no cluster TLS: %v %v %v", s, c, err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := testca.New(t).WriteFiles(t, dir, "127.0.0.1")
	s, c, err := Config{TLSCert: certFile, TLSKey: keyFile, TLSCA: caFile}.ForwardTLS()
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientAuth != tls.RequireAndVerifyClientCert || s.ClientCAs == nil || len(s.Certificates) != 1 ||
		c.RootCAs == nil || len(c.Certificates) != 1 || c.InsecureSkipVerify {
		t.Fatalf("server %+v client %+v", s, c)
	}
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, cfg := range []Config{
		{TLSCert: certFile, TLSKey: caFile, TLSCA: caFile},
		{TLSCert: certFile, TLSKey: keyFile, TLSCA: notPEM},
		{TLSCert: certFile, TLSKey: keyFile, TLSCA: filepath.Join(dir, "missing.pem")},
	} {
		if _, _, err := cfg.ForwardTLS(); err == nil || !strings.Contains(err.Error(), "--cluster-tls") {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
