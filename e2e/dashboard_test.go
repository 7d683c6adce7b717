package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDashboard serves the web dashboard from the real binary and checks
// what a browser relies on: the page and its assets, the sign-in redirect,
// a CSP that lets the page reach the gateway, and the gateway answering the
// page's cross-origin calls the way its scripts read them.
func TestDashboard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--dashboard-address", "127.0.0.1:0")
	if !strings.HasPrefix(s.dashboard, "http://127.0.0.1:") {
		t.Fatalf("dashboard address %q not logged in the started line", s.dashboard)
	}
	noFollow := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	fetch := func(path string) (*http.Response, string) {
		t.Helper()
		rsp, err := noFollow.Get(s.dashboard + path)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		return rsp, string(b)
	}

	rsp, page := fetch("/login")
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /login: %d %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	// The page is told the gateway's bound address, on the host it was
	// reached by, and the CSP allows connecting there.
	if !strings.Contains(page, `<meta name="micro-api" content="`+s.gateway+`">`) {
		t.Errorf("the page does not point at the gateway %s:\n%s", s.gateway, page)
	}
	if csp := rsp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+s.gateway+";") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q does not allow the gateway %s", csp, s.gateway)
	}
	m := regexp.MustCompile(`<script type="module" src="(/assets/[^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no module script in the page:\n%s", page)
	}
	if rsp, js := fetch(m[1]); rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(js, "import") || rsp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: %d %q (%d bytes)", m[1], rsp.StatusCode, rsp.Header.Get("Content-Type"), len(js))
	}
	if rsp, _ := fetch("/store"); rsp.StatusCode != http.StatusFound || rsp.Header.Get("Location") != "/login?next=%2Fstore" {
		t.Errorf("GET /store without a token: %d to %q, want 302 to /login", rsp.StatusCode, rsp.Header.Get("Location"))
	}

	// The browser asks the gateway first whether the page may send its
	// headers across origins.
	pre, err := http.NewRequest(http.MethodOptions, s.gateway+"/store/Store/Write", nil)
	if err != nil {
		t.Fatal(err)
	}
	pre.Header.Set("Origin", s.dashboard)
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type,micro-namespace")
	prsp, err := noFollow.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	prsp.Body.Close()
	allowed := strings.ToLower(prsp.Header.Get("Access-Control-Allow-Headers"))
	if prsp.StatusCode != http.StatusOK || prsp.Header.Get("Access-Control-Allow-Origin") != s.dashboard ||
		!strings.Contains(allowed, "authorization") || !strings.Contains(allowed, "micro-namespace") || !strings.Contains(allowed, "content-type") {
		t.Fatalf("preflight from the dashboard: %d, headers %v", prsp.StatusCode, prsp.Header)
	}

	// The store browser's calls, as store.js makes them: a write, then the
	// keys as JSON lines from the streaming List.
	token := s.token(t, "micro", "admin", "micro")
	call := func(path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.gateway+"/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", s.dashboard)
		req.AddCookie(&http.Cookie{Name: "micro-token", Value: token})
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Micro-Namespace", "micro")
		rsp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		return rsp.StatusCode, string(b)
	}
	if code, body := call("store/Store/Write", `{"record":{"key":"dash/a","value":"aGVsbG8="},"options":{"database":"micro","table":"dash"}}`); code != http.StatusNoContent {
		t.Fatalf("Store.Write: %d %s", code, body)
	}
	code, body := call("store/Store/List", `{"options":{"database":"micro","table":"dash","prefix":"dash/","limit":101,"offset":0}}`)
	if code != http.StatusOK {
		t.Fatalf("Store.List: %d %s", code, body)
	}
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var msg struct{ Keys []string }
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			t.Fatalf("Store.List line %q is not a JSON message: %v", sc.Text(), err)
		}
		keys = append(keys, msg.Keys...)
	}
	if len(keys) != 1 || keys[0] != "dash/a" {
		t.Errorf("Store.List keys %q, want [dash/a]", keys)
	}

	// Shutdown with the dashboard serving stays clean.
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Errorf("server exit after SIGTERM: %v", err)
	}
}
