package e2e

import (
	"net"
	"strings"
	"testing"
)

// TestDefaultPasswordFromElsewhere runs the real server with its proxy on a
// non-loopback address of this machine (reached as http:// on purpose: a
// bare address there would mean TLS) and its gateway on loopback. The
// default admin password is refused through the proxy with a 401 that says
// how to set one, accepted through the loopback gateway, and once changed
// the new password works through the proxy too. The start log warns about
// the plaintext proxy and the default password, once each.
func TestDefaultPasswordFromElsewhere(t *testing.T) {
	t.Parallel()
	host := hostIP(t)
	if host == "" {
		t.Skip("this machine has no non-loopback address (blocks/auth tests the rule by forwarded headers)")
	}
	s := startServer(t, "", "--proxy-address", net.JoinHostPort(host, "0"))
	// The warnings are logged before "micro server started", which
	// startServer waited for.
	for _, want := range []string{"plaintext on a non-loopback address", "default password"} {
		if n := strings.Count(s.log(), want); n != 1 {
			t.Errorf("start log mentions %q %d times:\n%s", want, n, s.log())
		}
	}

	remote := newCLI(t, nil)
	remote.env = append(remote.env, "MICRO_PROXY=http://"+s.proxy)
	_, errOut, code := remote.run("login", "--username", "admin", "--password", "micro")
	if code != 2 || !strings.Contains(errOut, "the default admin password is accepted only from this machine") ||
		!strings.Contains(errOut, "--admin-password (MICRO_ADMIN_PASSWORD)") || !strings.Contains(errOut, "micro user set password") {
		t.Fatalf("default password from %s: exit %d, stderr %q", host, code, errOut)
	}

	token := s.token(t, "micro", "admin", "micro") // the gateway, on loopback
	if code, body := postAs(t, token, s.gateway+"/auth/Accounts/ChangeSecret", `{"id":"admin","new_secret":"b3tter"}`); code/100 != 2 {
		t.Fatalf("change the password: %d %s", code, body)
	}
	remote.login("admin", "b3tter")
	remote.ok("store", "write", "k", "v")
}

// hostIP is an IPv4 address of this machine that is not loopback, or ""
// when it has none.
func hostIP(t *testing.T) string {
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
