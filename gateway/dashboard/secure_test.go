package dashboard

import (
	"net/http"
	"strings"
	"testing"

	"micro.dev/micro/internal/clientaddr"
)

// TestSecureBehindTrustedProxy: a page a trusted proxy took over HTTPS
// (X-Forwarded-Proto) points at the API over https and clears its cookie
// with Secure; the same header from anyone else changes nothing.
func TestSecureBehindTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		trust  string
		secure bool
	}{{"127.0.0.0/8", true}, {"10.0.0.0/8", false}} {
		trusted, err := clientaddr.ParseProxies([]string{c.trust})
		if err != nil {
			t.Fatal(err)
		}
		srv := serve(t, Config{APIAddress: apiAt(":8080"), TrustedProxies: trusted})
		hdr := map[string]string{"X-Forwarded-Proto": "https", "Host": "api.example.com"}
		rsp, _ := request(t, http.MethodGet, srv.URL+"/logout", "tok", hdr)
		secure := false
		for _, ck := range rsp.Cookies() {
			if ck.Name == TokenCookie {
				secure = ck.Secure
			}
		}
		if secure != c.secure {
			t.Errorf("trusting %s: cookie Secure=%v", c.trust, secure)
		}
		rsp, _ = request(t, http.MethodGet, srv.URL+"/login", "", hdr)
		csp := rsp.Header.Get("Content-Security-Policy")
		if got := strings.Contains(csp, "https://api.example.com:8080"); got != c.secure {
			t.Errorf("trusting %s: CSP %q", c.trust, csp)
		}
	}
}
