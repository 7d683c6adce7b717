package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"micro.dev/micro/internal/testca"
)

// TestEnvTLS logs in to a proxy that serves TLS with a certificate from a
// CA no system trusts: through an env that names the CA, by https:// with
// the CA in MICRO_PROXY_CA, and with --insecure only when given. Without
// the CA the login fails with a certificate error, and a plaintext
// address fails too: the CLI never switches between TLS and plaintext on
// its own.
func TestEnvTLS(t *testing.T) {
	dir := isolate(t)
	ca := testca.New(t)
	addr := serveAuth(t, ca.ServerTLS(t, "127.0.0.1"))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	login := []string{"login", "--username", "admin", "--password", "micro"}

	mustRun(t, "env", "add", "lab", addr, "--ca", caFile, "Lab", "server")
	mustRun(t, "env", "set", "lab")
	if out := mustRun(t, login...); out != "Successfully logged in.\n" {
		t.Fatalf("login with the env's CA: %q", out)
	}
	if out := mustRun(t, "user"); out != "admin\n" {
		t.Fatalf("user: %q", out)
	}
	// The env keeps the CA itself, not the file's path.
	os.Remove(caFile)
	if out := mustRun(t, "user", "token"); out == "" {
		t.Fatal("no token")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, configFileName)); !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatalf("config.json does not hold the CA:\n%s", b)
	}

	// The system's roots do not trust the test CA.
	mustRun(t, "env", "add", "noca", "https://"+addr)
	_, errOut, code := run(t, append([]string{"--env", "noca"}, login...)...)
	if code != exitConnect || !strings.Contains(errOut, "its TLS certificate does not check out (x509:") ||
		!strings.Contains(errOut, "--ca ca.pem") {
		t.Fatalf("login without the CA: exit %d, stderr %q", code, errOut)
	}
	// A loopback address without a CA or https:// is plaintext, which the
	// TLS server refuses; the CLI does not try TLS instead.
	mustRun(t, "env", "add", "plain", addr)
	if _, errOut, code := run(t, append([]string{"--env", "plain"}, login...)...); code != exitConnect {
		t.Fatalf("plaintext login to a TLS server: exit %d, stderr %q", code, errOut)
	}
	// --insecure works, only when given.
	mustRun(t, "env", "add", "ins", "https://"+addr, "--insecure")
	if out := mustRun(t, append([]string{"--env", "ins"}, login...)...); out != "Successfully logged in.\n" {
		t.Fatalf("login --insecure: %q", out)
	}

	// One-off: MICRO_PROXY with MICRO_PROXY_CA, and the env's CA does not
	// follow a MICRO_PROXY that names another server.
	caFile2 := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile2, ca.PEM, 0o600)
	t.Setenv("MICRO_PROXY", "https://"+addr)
	t.Setenv("MICRO_PROXY_CA", caFile2)
	if out := mustRun(t, append([]string{"--env", "noca"}, login...)...); out != "Successfully logged in.\n" {
		t.Fatalf("login with MICRO_PROXY_CA: %q", out)
	}
	t.Setenv("MICRO_PROXY_CA", "")
	if _, errOut, code := run(t, login...); code != exitConnect || !strings.Contains(errOut, "x509:") {
		t.Fatalf("MICRO_PROXY without a CA: exit %d, stderr %q", code, errOut)
	}
	t.Setenv("MICRO_PROXY_INSECURE", "yes please")
	wantFail(t, 1, `MICRO_PROXY_INSECURE="yes please": give true or false`, login...)
}

func TestEnvAddTLSErrors(t *testing.T) {
	isolate(t)
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	_, errOut, code := run(t, "env", "add", "x", "10.0.0.5:8081", "--ca", bad)
	if code != 1 || !strings.Contains(errOut, "holds no PEM certificate") {
		t.Errorf("env add --ca bad: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = run(t, "env", "add", "x", "10.0.0.5:8081", "--ca", filepath.Join(t.TempDir(), "missing.pem"))
	if code != 1 || !strings.Contains(errOut, "reading the CA file") {
		t.Errorf("env add --ca missing: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = run(t, "env", "add", "x", "http://10.0.0.5:8081", "--insecure")
	if code != 1 || !strings.Contains(errOut, "says plaintext (http://)") {
		t.Errorf("env add http:// --insecure: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = run(t, "env", "add", "x", "--insecure")
	if code != 1 || !strings.Contains(errOut, "need a proxy address") {
		t.Errorf("env add without address --insecure: exit %d, stderr %q", code, errOut)
	}
	if out := mustRun(t, "env"); strings.Contains(out, " x ") {
		t.Errorf("a refused env was added:\n%s", out)
	}
}
