package e2e

import (
	"strings"
	"testing"

	"micro.dev/micro/internal/testca"
)

// TestCLIOverTLS: against a server started with --tls-cert/--tls-key from a
// test CA, `micro env add --ca` + `micro login` + store commands work; the
// same address without the CA fails with a certificate error, a plaintext
// address fails too (the CLI never switches between them on its own), and
// --insecure works only when given. MICRO_PROXY_CA does for one command
// what --ca does for an env.
func TestCLIOverTLS(t *testing.T) {
	t.Parallel()
	ca := testca.New(t)
	caFile, certFile, keyFile := ca.WriteFiles(t, t.TempDir(), "127.0.0.1", "localhost")
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	c := newCLI(t, nil)

	c.ok("env", "add", "lab", s.proxy, "--ca", caFile, "TLS", "lab")
	c.ok("env", "set", "lab")
	c.login("admin", "micro")
	c.ok("store", "write", "greeting", "hello")
	if out := c.ok("store", "read", "greeting"); out != "hello\n" {
		t.Fatalf("store read over TLS: %q", out)
	}

	// Without the CA: the system's roots do not know the test CA.
	c.ok("env", "add", "noca", "https://"+s.proxy)
	out, errOut, code := c.run("--env", "noca", "login", "--username", "admin", "--password", "micro")
	if code != 4 || !strings.Contains(errOut, "Failed to connect to micro server at https://"+s.proxy+": its TLS certificate does not check out (x509:") ||
		!strings.Contains(errOut, "--ca ca.pem") {
		t.Fatalf("login without the CA: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	t.Logf("without the CA:\n%s", errOut)
	// A loopback address without --ca is plaintext, which the TLS-only
	// proxy does not speak: the CLI fails rather than trying TLS, and
	// the TLS env's login is not used for it.
	c.ok("env", "add", "plain", s.proxy)
	if out, errOut, code := c.run("--env", "plain", "store", "read", "greeting"); code != 4 {
		t.Fatalf("plaintext to the TLS proxy: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	} else {
		t.Logf("plaintext to the TLS proxy:\n%s", errOut)
	}

	// --insecure, only when given.
	c.ok("env", "add", "ins", "https://"+s.proxy, "--insecure")
	c.ok("--env", "ins", "login", "--username", "admin", "--password", "micro")
	if out := c.ok("--env", "ins", "store", "read", "greeting"); out != "hello\n" {
		t.Fatalf("store read --insecure: %q", out)
	}

	// One command, by variables.
	one := newCLI(t, nil)
	one.env = append(one.env, "MICRO_PROXY=https://"+s.proxy, "MICRO_PROXY_CA="+caFile)
	one.login("admin", "micro")
	if out := one.ok("store", "read", "greeting"); out != "hello\n" {
		t.Fatalf("store read with MICRO_PROXY_CA: %q", out)
	}
}
