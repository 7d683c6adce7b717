package dashboard

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// serve starts the dashboard on a real loopback listener.
func serve(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func apiAt(addr string) func() string { return func() string { return addr } }

// request sends one request without following redirects, with the token
// cookie when token is not empty, and returns the response and its body.
func request(t *testing.T, method, target, token string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: TokenCookie, Value: token})
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rsp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rsp, string(b)
}

// checkSecurityHeaders fails unless rsp carries the headers every answer must.
func checkSecurityHeaders(t *testing.T, what string, rsp *http.Response) {
	t.Helper()
	csp := rsp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self' "} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows inline code: %q", what, csp)
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := rsp.Header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", what, h, got, want)
		}
	}
}

func TestRedirectsToLoginWithoutCookie(t *testing.T) {
	srv := serve(t, Config{APIAddress: apiAt("127.0.0.1:8080")})
	for _, path := range []string{"/", "/services", "/service/helloworld", "/service/helloworld/Helloworld.Call?name=Alice",
		"/store?database=micro&table=t", "/runtime", "/events", "/traces", "/trace/4bf92f3577b34da6a3ce929d0e0e4736", "/no/such/page"} {
		for _, token := range []string{"", " "} {
			rsp, _ := request(t, http.MethodGet, srv.URL+path, strings.TrimSpace(token), nil)
			if rsp.StatusCode != http.StatusFound {
				t.Errorf("GET %s without a token: status %d, want 302", path, rsp.StatusCode)
				continue
			}
			loc, err := url.Parse(rsp.Header.Get("Location"))
			if err != nil || loc.Path != "/login" || loc.Query().Get("next") != path {
				t.Errorf("GET %s: Location %q, want /login?next=<the page>", path, rsp.Header.Get("Location"))
			}
			checkSecurityHeaders(t, "redirect "+path, rsp)
		}
	}
	// HEAD is redirected the same way.
	if rsp, _ := request(t, http.MethodHead, srv.URL+"/store", "", nil); rsp.StatusCode != http.StatusFound {
		t.Errorf("HEAD /store without a token: status %d, want 302", rsp.StatusCode)
	}
}

func TestLoginAndAssetsArePublic(t *testing.T) {
	srv := serve(t, Config{APIAddress: apiAt("127.0.0.1:8080"), Version: "v1.2.3"})

	rsp, body := request(t, http.MethodGet, srv.URL+"/login", "", nil)
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /login: %d %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `<script type="module" src="/assets/app.js">`) || !strings.Contains(body, `content="v1.2.3"`) {
		t.Errorf("GET /login is not the app page with the version:\n%s", body)
	}
	if cc := rsp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control = %q, want no-store", cc)
	}
	checkSecurityHeaders(t, "/login", rsp)

	types := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
	}
	if len(embeddedAssets) < 5 {
		t.Fatalf("only %d embedded assets", len(embeddedAssets))
	}
	for name, a := range embeddedAssets {
		want, ok := types[name[strings.LastIndexByte(name, '.'):]]
		if !ok {
			t.Errorf("asset %s has a type the test does not know; add it", name)
			continue
		}
		rsp, body := request(t, http.MethodGet, srv.URL+"/assets/"+name, "", nil)
		if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != want || body != string(a.data) {
			t.Errorf("GET /assets/%s: %d %q (%d bytes), want 200 %q (%d bytes)", name,
				rsp.StatusCode, rsp.Header.Get("Content-Type"), len(body), want, len(a.data))
		}
		checkSecurityHeaders(t, "/assets/"+name, rsp)
		etag := rsp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET /assets/%s: no ETag", name)
			continue
		}
		// A browser holding the same version revalidates for nothing.
		if rsp, _ := request(t, http.MethodGet, srv.URL+"/assets/"+name, "", map[string]string{"If-None-Match": etag}); rsp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /assets/%s with its ETag: %d, want 304", name, rsp.StatusCode)
		}
	}

	// Missing assets are a plain 404, never a redirect or the app.
	for _, path := range []string{"/assets/", "/assets/nope.js", "/assets/../app.html", "/favicon.ico"} {
		if rsp, _ := request(t, http.MethodGet, srv.URL+path, "", nil); rsp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rsp.StatusCode)
		}
	}
}

func TestDeepLinksServeTheApp(t *testing.T) {
	srv := serve(t, Config{APIAddress: apiAt("127.0.0.1:8080")})
	for path, status := range map[string]int{
		"/":                   http.StatusOK,
		"/services?q=hello":   http.StatusOK,
		"/service/helloworld": http.StatusOK,
		"/service/helloworld/Helloworld.Call?name=Alice": http.StatusOK,
		"/store?database=micro&table=t&key=a%2Fb":        http.StatusOK,
		"/runtime":                                  http.StatusOK,
		"/events?topic=orders":                      http.StatusOK,
		"/traces?service=helloworld":                http.StatusOK,
		"/trace/4bf92f3577b34da6a3ce929d0e0e4736":   http.StatusOK,
		"/trace/not-a-trace-id":                     http.StatusNotFound,
		"/trace/4bf92f3577b34da6a3ce929d0e0e4736/x": http.StatusNotFound,
		"/login?next=%2Fstore":                      http.StatusOK,
		"/no/such/page":                             http.StatusNotFound,
		"/servicesx":                                http.StatusNotFound,
	} {
		rsp, body := request(t, http.MethodGet, srv.URL+path, "tok", nil)
		if rsp.StatusCode != status || !strings.Contains(body, `src="/assets/app.js"`) {
			t.Errorf("GET %s with a token: %d, want %d with the app page", path, rsp.StatusCode, status)
		}
		checkSecurityHeaders(t, path, rsp)
	}
	// HEAD answers like GET, without a body.
	if rsp, body := request(t, http.MethodHead, srv.URL+"/store", "tok", nil); rsp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /store: %d with %d bytes", rsp.StatusCode, len(body))
	}
	// The dashboard only reads: anything else is a 405 naming what it takes.
	rsp, _ := request(t, http.MethodPost, srv.URL+"/login", "", nil)
	if rsp.StatusCode != http.StatusMethodNotAllowed || rsp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /login: %d Allow %q, want 405 GET, HEAD", rsp.StatusCode, rsp.Header.Get("Allow"))
	}
}

func TestLogoutClearsTheCookie(t *testing.T) {
	srv := serve(t, Config{})
	for _, token := range []string{"tok", ""} {
		rsp, _ := request(t, http.MethodGet, srv.URL+"/logout", token, nil)
		if rsp.StatusCode != http.StatusFound || rsp.Header.Get("Location") != "/login" {
			t.Fatalf("GET /logout: %d to %q, want 302 to /login", rsp.StatusCode, rsp.Header.Get("Location"))
		}
		var cleared *http.Cookie
		for _, c := range rsp.Cookies() {
			if c.Name == TokenCookie {
				cleared = c
			}
		}
		if cleared == nil || cleared.Value != "" || cleared.MaxAge >= 0 || cleared.Path != "/" || cleared.SameSite != http.SameSiteLaxMode {
			t.Fatalf("GET /logout: Set-Cookie %q, want micro-token emptied with Max-Age=0, Path=/, SameSite=Lax",
				rsp.Header.Values("Set-Cookie"))
		}
	}
}

// TestAPIOrigin checks where the page is told the API is, and that the
// CSP lets it connect there and nowhere else.
func TestAPIOrigin(t *testing.T) {
	cases := []struct {
		name      string
		api       func() string
		host      string
		wantBase  string
		wantConn  string
		wantState int
	}{
		{"bound any host", apiAt("[::]:9090"), "dash.example:8082", "http://dash.example:9090", "http://dash.example:9090", 200},
		{"bound loopback", apiAt("127.0.0.1:8080"), "localhost:8082", "http://localhost:8080", "http://localhost:8080", 200},
		{"ipv6 page", apiAt("0.0.0.0:8080"), "[::1]:8082", "http://[::1]:8080", "http://[::1]:8080", 200},
		{"host without port", apiAt(":7070"), "vm.example", "http://vm.example:7070", "http://vm.example:7070", 200},
		{"no address", nil, "10.1.2.3:8082", "http://10.1.2.3:8080", "http://10.1.2.3:8080", 200},
		{"url", apiAt("https://api.example.com/base/"), "dash.example:8082", "https://api.example.com/base", "https://api.example.com", 200},
		{"bad url", apiAt("ftp://files.example"), "dash.example:8082", "", "", 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := serve(t, Config{APIAddress: c.api})
			rsp, body := request(t, http.MethodGet, srv.URL+"/login", "", map[string]string{"Host": c.host})
			if rsp.StatusCode != c.wantState {
				t.Fatalf("status %d, want %d: %s", rsp.StatusCode, c.wantState, body)
			}
			if c.wantState != http.StatusOK {
				return
			}
			if !strings.Contains(body, `<meta name="micro-api" content="`+c.wantBase+`">`) {
				t.Errorf("page does not name the API %q:\n%s", c.wantBase, body)
			}
			csp := rsp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "connect-src 'self' "+c.wantConn+";") {
				t.Errorf("CSP %q does not allow connecting to %q", csp, c.wantConn)
			}
		})
	}

	// net/http's client and server refuse most malformed Host headers
	// before a handler runs; the handler refuses the rest itself rather
	// than put them into the page and the CSP.
	h := New(Config{APIAddress: apiAt(":8080"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, host := range []string{"a b", `x"y:8082`, "x;y", "[:8082"} {
		req := httptest.NewRequest(http.MethodGet, "/login", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || strings.Contains(rec.Header().Get("Content-Security-Policy"), host) {
			t.Errorf("Host %q: %d, CSP %q; want 400 without the host", host, rec.Code, rec.Header().Get("Content-Security-Policy"))
		}
	}
}
