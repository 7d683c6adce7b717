package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"micro.dev/micro/internal/testkit"
)

// warnings returns the messages of the WARN lines logged to buf so far.
func warnings(t *testing.T, buf *testkit.LogBuffer) []string {
	var out []string
	for _, rec := range buf.Records(t) {
		if rec["level"] == "WARN" {
			listeners, _ := rec["listeners"].(string)
			out = append(out, fmt.Sprint(rec["msg"])+" "+listeners)
		}
	}
	return out
}

// startLogged starts a node on a fresh file with cfg, logging JSON to the
// returned buffer.
func startLogged(t *testing.T, cfg Config) (*Node, *testkit.LogBuffer) {
	t.Helper()
	buf := new(testkit.LogBuffer)
	cfg.Data = filepath.Join(t.TempDir(), "micro.db")
	cfg.Logger = slog.New(slog.NewJSONHandler(buf, nil))
	if cfg.GatewayAddress == "" {
		cfg.GatewayAddress = "127.0.0.1:0"
	}
	if cfg.ProxyAddress == "" {
		cfg.ProxyAddress = "127.0.0.1:0"
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, buf
}

// count is how many of lines contain s.
func count(lines []string, s string) int {
	c := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			c++
		}
	}
	return c
}

// TestStartWarnings: a server on loopback with the default password and
// public metrics warns once for each of those, and not about plaintext; one
// with a password and private metrics warns about nothing; a listener on a
// non-loopback address of this machine draws one plaintext warning naming
// it.
func TestStartWarnings(t *testing.T) {
	_, buf := startLogged(t, Config{MetricsPublic: true, DashboardAddress: "127.0.0.1:0"})
	w := warnings(t, buf)
	if count(w, "default password") != 1 || count(w, "/metrics is public") != 1 || count(w, "plaintext") != 0 || len(w) != 2 {
		t.Fatalf("loopback, default password, public metrics: warnings %q", w)
	}

	_, buf = startLogged(t, Config{AdminPassword: "s3cret", MetricsToken: "scrape"})
	if w := warnings(t, buf); len(w) != 0 {
		t.Fatalf("safe settings: warnings %q", w)
	}

	host := nonLoopbackIP(t)
	if host == "" {
		t.Skip("this machine has no non-loopback address; TestUnsafeSettings covers the rule")
	}
	n, buf := startLogged(t, Config{AdminPassword: "s3cret", ProxyAddress: net.JoinHostPort(host, "0")})
	w = warnings(t, buf)
	if len(w) != 1 || !strings.Contains(w[0], "plaintext on a non-loopback address") || !strings.Contains(w[0], "proxy="+n.ProxyAddr()) ||
		strings.Contains(w[0], "gateway=") {
		t.Fatalf("proxy on %s: warnings %q", host, w)
	}
}

func TestUnsafeSettings(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	ls := []exposure{
		{"gateway", tcp("[::]:8080"), false, false},
		{"proxy", tcp("0.0.0.0:8081"), false, false},
		{"dashboard", tcp("127.0.0.1:8082"), false, false},
	}
	w := unsafeSettings(ls, false, false)
	if len(w) != 1 || w[0].attrs[1] != "gateway=[::]:8080 proxy=0.0.0.0:8081" {
		t.Fatalf("plaintext on every interface: %+v", w)
	}
	// A clustered node's forwarding listener in plaintext: its own
	// warning, naming the cluster's TLS; over TLS or on loopback, none.
	forward := exposure{"cluster-forward", tcp("10.0.0.5:6223"), false, true}
	w = unsafeSettings([]exposure{forward}, false, false)
	if len(w) != 1 || !strings.Contains(w[0].msg, "--cluster-tls-cert") || w[0].attrs[1] != "cluster-forward=10.0.0.5:6223" {
		t.Fatalf("plaintext forwarding: %+v", w)
	}
	for _, safe := range []exposure{{"cluster-forward", tcp("10.0.0.5:6223"), true, true}, {"cluster-forward", tcp("127.0.0.1:6223"), false, true}} {
		if w := unsafeSettings([]exposure{safe}, false, false); len(w) != 0 {
			t.Fatalf("%+v: %+v", safe, w)
		}
	}
	for i := range ls {
		ls[i].tls = true
	}
	if w := unsafeSettings(ls, true, true); len(w) != 2 || !strings.Contains(w[0].msg, "default password") || !strings.Contains(w[1].msg, "metrics") {
		t.Fatalf("TLS, default password, public metrics: %+v", w)
	}
	if w := unsafeSettings(ls[2:], false, false); len(w) != 0 {
		t.Fatalf("loopback only: %+v", w)
	}
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback,
// or "" when it has none.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
