package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/clientaddr"
)

// Defaults for Config's zero values.
const (
	DefaultMaxBodyBytes = 10 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultReadTimeout  = time.Minute
)

// Config is what a Gateway is built from.
type Config struct {
	// Router finds the connection for each call; nil answers every call
	// with ErrServiceNotFound.
	Router Router
	// Tracer, when set, records a span of every call (trace.go); nil does
	// no tracing work.
	Tracer trace.Tracer
	// Version is reported by GET /; empty means "latest", as in Micro.
	Version string
	// MaxBodyBytes caps request bodies; larger ones get a 413. Zero or
	// less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds a call whose request has no Timeout header. Zero
	// means DefaultTimeout. Streams without a Timeout header are bounded
	// only by the client's connection, since they may be long-lived.
	Timeout time.Duration
	// ReadTimeout bounds how long a websocket's first message may take
	// (the server's ReadTimeout bounds the rest of a request); zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout is how long writing an answer may take once it is
	// ready: each message of a stream gets it anew (deadline.go). Set it
	// to the http.Server's WriteTimeout; zero leaves writes unbounded here.
	WriteTimeout time.Duration
	// Logger receives request and failure logs; nil means slog.Default().
	Logger *slog.Logger
	// Info, when set, adds fields to the GET / answer (it may override
	// "version").
	Info func() map[string]any
	// SSEHeartbeat is how often an idle GET /events/{topic} stream gets a
	// comment line; zero means DefaultSSEHeartbeat.
	SSEHeartbeat time.Duration
	// Identify, when set, decides a request's namespace, e.g. from its
	// token's issuer; an error it returns answers the request (through
	// errors.FromError, so return a micro 401 or 403). An empty namespace
	// falls back to the default rule: the Micro-Namespace header, else
	// "micro".
	Identify func(r *http.Request) (namespace string, err error)
	// Health, when set, decides whether GET /health answers {"status":"ok"}
	// or a 503 naming its error; it gets at most HealthTimeout.
	Health func(ctx context.Context) error
	// HealthDetail, when set, adds to a ready GET /health's answer, under
	// "detail", what is worth seeing but does not decide readiness (a
	// failing backup: the node still serves).
	HealthDetail func() map[string]any
	// Observe, when set, is handed what the gateway learnt of each request
	// once it is answered (the node's metrics). It must be quick and must
	// not keep info.
	Observe func(info *RequestInfo)
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed for the client's address (auth's login limits count
	// against it); nil believes no one.
	TrustedProxies *clientaddr.Proxies
}

// Gateway is the HTTP API. It is an http.Handler; the node serves it.
type Gateway struct {
	cfg Config
	log *slog.Logger
}

// New returns a Gateway for cfg, with defaults filled in.
func New(cfg Config) *Gateway {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.Version == "" {
		cfg.Version = "latest"
	}
	if cfg.Router == nil {
		// Nothing to route to yet: every service is unknown.
		cfg.Router = RouterFunc(func(context.Context, string, string, string) (Route, error) {
			return Route{}, ErrServiceNotFound
		})
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Gateway{cfg: cfg, log: log}
}

// ServeHTTP answers one request: CORS first, then the fixed routes, then a
// call to a service.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	info := &RequestInfo{Method: r.Method, Path: r.URL.Path}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // net/http's way to abort quietly
				panic(p)
			}
			g.log.Error("gateway panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if !rec.wrote {
				writeError(rec, errors.InternalServerError(apiID, "internal error"))
			}
		}
		g.done(r, info, rec, start) // observe.go
	}()

	cors(rec.Header(), r)
	switch {
	case r.Method == http.MethodOptions:
		info.Route = "OPTIONS"
		rec.WriteHeader(http.StatusOK)
	case r.URL.Path == "/":
		info.Route = "/"
		g.serveInfo(rec)
	case r.URL.Path == "/favicon.ico":
		info.Route = "/favicon.ico"
		rec.WriteHeader(http.StatusOK)
	case r.URL.Path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		info.Route = "/health"
		g.serveHealth(rec, r) // observe.go
	case isEvents(r):
		g.serveEvents(rec, r) // server-sent events: sse.go
	default:
		g.serveTraced(rec, r) // trace.go
	}
}

// serveInfo answers GET /.
func (g *Gateway) serveInfo(w http.ResponseWriter) {
	info := map[string]any{"version": g.cfg.Version}
	if g.cfg.Info != nil {
		for k, v := range g.cfg.Info() {
			info[k] = v
		}
	}
	writeJSON(w, info)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errors.InternalServerError(apiID, "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// CORS values, as Micro sends them.
const (
	corsMethods = "POST, PATCH, GET, OPTIONS, PUT, DELETE"
	corsHeaders = "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Micro-Namespace"
)

// cors sets Micro's permissive CORS headers where not already set: any
// origin may call, since auth rules, not the browser, decide who may call
// what. Credentials (the micro-token cookie) are allowed only for pages
// served from the gateway's own host, such as the dashboard on another port:
// Micro allowed them for every origin, which let any web page the admin
// visited act with the admin's cookie.
func cors(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "*"
	}
	setDefault(h, "Access-Control-Allow-Origin", origin)
	if origin != "*" && sameHost(r) {
		setDefault(h, "Access-Control-Allow-Credentials", "true")
	}
	setDefault(h, "Access-Control-Allow-Methods", corsMethods)
	setDefault(h, "Access-Control-Allow-Headers", corsHeaders)
	// The allowed origin varies with the request, so caches must key on it.
	h.Add("Vary", "Origin")
}

func setDefault(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}

// recorder notes what was written, for the request log and so a recovered
// panic knows whether it can still send an error.
type recorder struct {
	http.ResponseWriter
	wrote  bool
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote, r.status = true, code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection beneath: its
// Flush and its deadlines (deadline.go).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
