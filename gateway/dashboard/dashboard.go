// Package dashboard is micro's web UI (:8082): a small single-page app,
// embedded in the binary, that talks to the HTTP API gateway from the
// browser, as Micro's `micro web` did. The server side only serves the page
// and its assets, decides where the API is, sends security headers, and
// sends visitors without a session cookie to /login; every call to a
// service is made by the page itself with the user's token, so the
// dashboard holds no privilege of its own.
//
// Routes:
//
//	/assets/*                       embedded CSS, JS and images (public)
//	/login                          the sign-in page (public)
//	/logout                         clears the micro-token cookie, 302 to /login
//	/, /services                    the service list
//	/service/{name}[/{endpoint}]    a service's endpoints, each with a call form
//	/store, /runtime, /events       store browser, runtime status and logs, events
//	/config, /auth                  config tree, accounts and rules
//	/traces, /trace/{id}            recent traces, one trace as a waterfall
//
// Every other path answers 404 with the app (which shows "not found").
// Without a non-empty micro-token cookie, any page but /login, /logout and
// the assets is a 302 to /login?next=<the page>.
package dashboard

import (
	"bytes"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"micro.dev/micro/internal/clientaddr"
)

// TokenCookie is the cookie holding the user's access token. The page sets
// it after signing in (it must read it to send the token to the API, so it
// cannot be HttpOnly); the server only checks that it is there.
const TokenCookie = "micro-token"

// Config is what a dashboard is built from.
type Config struct {
	// APIAddress says where the HTTP API gateway is. A URL with a scheme
	// ("https://api.example.com") is used as it is; otherwise it is the
	// gateway's listen address ("[::]:8080", "127.0.0.1:8080") and the
	// browser is pointed at the page's own host on that port. Nil or empty
	// means port 8080 on the page's host.
	APIAddress func() string
	// Version is shown in the page header.
	Version string
	// Logger receives request logs (debug) and failures; nil means
	// slog.Default().
	Logger *slog.Logger
	// TrustedProxies are the load balancers whose X-Forwarded-Proto and
	// X-Forwarded-For are believed: a page a trusted proxy took over
	// HTTPS talks to the API over HTTPS, and its cookie is Secure.
	TrustedProxies *clientaddr.Proxies
}

// Handler serves the dashboard. It is an http.Handler; the node serves it.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	page   *template.Template
	assets map[string]*asset
}

// New returns the dashboard's handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Version == "" {
		cfg.Version = "latest"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log, page: pageTemplate, assets: embeddedAssets}
}

// traceID is a W3C trace id, as the app's /trace/{id} route takes it.
var traceID = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)

// isAppRoute reports a path the app has a page for (the same routes as
// app.js); other paths still get the app, with a 404.
func isAppRoute(path string) bool {
	switch path {
	case "/", "/services", "/store", "/runtime", "/events", "/config", "/auth", "/traces", "/login":
		return true
	}
	if id, ok := strings.CutPrefix(path, "/trace/"); ok {
		return traceID.MatchString(id)
	}
	rest, ok := strings.CutPrefix(path, "/service/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		h.log.Debug("dashboard request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start), "remote", h.cfg.TrustedProxies.Of(r))
	}()

	api, err := h.apiBase(r)
	if err != nil {
		securityHeaders(rec.Header(), "")
		if errors.Is(err, errBadHost) {
			http.Error(rec, err.Error(), http.StatusBadRequest)
			return
		}
		h.log.Error("dashboard cannot tell where the API is", "err", err)
		http.Error(rec, err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(rec.Header(), originOf(api))

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rec.Header().Set("Allow", "GET, HEAD")
		http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/assets/"):
		h.serveAsset(rec, r, strings.TrimPrefix(path, "/assets/"))
	case path == "/login":
		h.servePage(rec, r, api, http.StatusOK)
	case path == "/logout":
		h.clearToken(rec, r)
		http.Redirect(rec, r, "/login", http.StatusFound)
	case path == "/favicon.ico":
		// Browsers ask for it whatever the page says; the page links
		// its own icon, so answer plainly instead of redirecting.
		http.NotFound(rec, r)
	case !hasToken(r):
		http.Redirect(rec, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
	default:
		status := http.StatusOK
		if !isAppRoute(path) {
			status = http.StatusNotFound
		}
		h.servePage(rec, r, api, status)
	}
}

func hasToken(r *http.Request) bool {
	c, err := r.Cookie(TokenCookie)
	return err == nil && c.Value != ""
}

// clearToken expires the token cookie with the attributes the page set it
// with, so the browser drops that very cookie.
func (h *Handler) clearToken(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     TokenCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		Expires:  time.Unix(0, 0),
		SameSite: http.SameSiteLaxMode,
		Secure:   h.cfg.TrustedProxies.Secure(r),
	})
}

// pageData is what the page template is filled with; html/template
// escapes both.
type pageData struct {
	API     string
	Version string
}

// servePage answers with the app's one HTML page.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, api string, status int) {
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, pageData{API: api, Version: h.cfg.Version}); err != nil {
		h.log.Error("dashboard page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// The page names the API origin, which depends on the request's host.
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
