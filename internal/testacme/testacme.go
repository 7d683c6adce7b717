// Package testacme runs an ACME CA for tests: Let's Encrypt's pebble, in
// the test's process, on loopback, with a DNS server that resolves every
// name to 127.0.0.1 for its validator.
package testacme

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"micro.dev/micro/internal/testkit"
)

// FreePort is a loopback port nothing listens on right now.
func FreePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// LoopbackDNS answers every A question with 127.0.0.1 (and AAAA with
// nothing), over TCP as pebble's VA asks, and returns its address.
func LoopbackDNS(t *testing.T) string {
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

// Pebble is a running pebble CA.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// TLSRoots is a PEM file trusting the directory's own HTTPS.
	TLSRoots string
	// Issuers are pebble's root and intermediate, from its management API:
	// what verifies the certificates it issues.
	Issuers *x509.CertPool
	// Log is what pebble logged.
	Log *testkit.LogBuffer
	// ACME serves the directory; closing it takes the CA away.
	ACME *httptest.Server
}

// Start runs pebble with its VA checking HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort, resolving names with the DNS server at resolver.
func Start(t *testing.T, httpPort, tlsPort int, resolver string) *Pebble {
	t.Helper()
	// Read by va.New: validate at once rather than after a random pause.
	// Set for the whole process (t.Setenv would forbid t.Parallel); no
	// other test reads it.
	os.Setenv("PEBBLE_VA_NOSLEEP", "1")
	p := &Pebble{Log: &testkit.LogBuffer{}}
	logger := log.New(p.Log, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)
	p.ACME = httptest.NewTLSServer(front.Handler())
	t.Cleanup(p.ACME.Close)
	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	p.Directory = p.ACME.URL + wfe.DirectoryPath

	p.TLSRoots = filepath.Join(t.TempDir(), "acme-roots.pem")
	if err := os.WriteFile(p.TLSRoots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ACME.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Issuers = x509.NewCertPool()
	for _, path := range []string{wfe.RootCertPath + "0", "/intermediates/0"} {
		rsp, err := mgmt.Client().Get(mgmt.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !p.Issuers.AppendCertsFromPEM(b) {
			t.Fatalf("pebble %s: %s %q", path, rsp.Status, b)
		}
	}
	return p
}
