package tlsserve

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/acme/autocert"

	"micro.dev/micro/internal/testacme"
	"micro.dev/micro/internal/testkit"
)

// TestFailedIssuanceLoggedOncePerWindow: pebble cannot validate the domain
// (nothing answers its TLS-ALPN-01 check), so every handshake naming it
// fails. The failure is logged at ERROR with the domain and the CA's
// reason once, however many handshakes come in the window; the next
// window's first failing handshake logs it again with how many failed in
// between. A handshake naming a host that is not ours logs nothing.
func TestFailedIssuanceLoggedOncePerWindow(t *testing.T) {
	t.Parallel()
	const domain = "api.micro.test"
	pebble := testacme.Start(t, testacme.FreePort(t), testacme.FreePort(t), testacme.LoopbackDNS(t))
	logs := &testkit.LogBuffer{}
	src, err := New(Config{Domains: []string{domain}, Directory: pebble.Directory, CARoots: pebble.TLSRoots,
		Cache: autocert.DirCache(t.TempDir()), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock()
	src.failures.now = clock.Now

	ln := testkit.Listen(t)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tls.Server(conn, src.ServerConfig()).Handshake() //nolint:errcheck // the client sees it
			}()
		}
	}()
	handshake := func(name string) {
		t.Helper()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true}).Handshake(); err == nil {
			t.Fatalf("a handshake naming %s succeeded", name)
		}
	}
	errors := func() []map[string]any {
		var out []map[string]any
		for _, r := range logs.Records(t) {
			if r["level"] == "ERROR" {
				out = append(out, r)
			}
		}
		return out
	}

	const hammer = 20
	for range hammer {
		handshake(domain)
	}
	handshake("other.micro.test")
	got := errors()
	if len(got) != 1 {
		t.Fatalf("%d ERROR lines after %d failed handshakes, want 1:\n%s", len(got), hammer, logs.String())
	}
	reason, _ := got[0]["reason"].(string)
	if got[0]["domain"] != domain || reason == "" || reason == errNoCertYet || got[0]["failed_handshakes"] != float64(1) ||
		!strings.Contains(got[0]["msg"].(string), "not obtained from the ACME CA") || !strings.Contains(fmt.Sprint(got[0]["hint"]), "port 443") {
		t.Fatalf("the failure logged as %v", got[0])
	}

	t.Logf("logged: %v", got[0])
	clock.Advance(failureWindow)
	handshake(domain)
	handshake(domain)
	got = errors()
	if len(got) != 2 {
		t.Fatalf("%d ERROR lines after the window, want 2:\n%s", len(got), logs.String())
	}
	if got[1]["domain"] != domain || got[1]["reason"] != reason || got[1]["failed_handshakes"] != float64(hammer) {
		t.Fatalf("the next window's line: %v (the first said %q)", got[1], reason)
	}
}
