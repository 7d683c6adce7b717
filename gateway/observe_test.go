package gateway

import (
	"context"
	stderrors "errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// observed collects what Config.Observe is handed.
type observed chan RequestInfo

func (o observed) observe(info *RequestInfo) { o <- *info }

// next returns the next request observed, waiting for it: Observe runs as
// the handler returns, which may be just after the client has its answer.
func (o observed) next(t *testing.T) RequestInfo {
	t.Helper()
	select {
	case info := <-o:
		return info
	case <-time.After(5 * time.Second):
		t.Fatal("no request observed")
		return RequestInfo{}
	}
}

// lockedBuilder is a log sink for the gateway's goroutines.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestObserve: each request is reported once answered, with the call's
// names marked routed only when the router found them, and logged at debug
// with its namespace and account, never its token.
func TestObserve(t *testing.T) {
	obs := make(observed, 16)
	logs := &lockedBuilder{}
	e := newEnv(t, Config{
		Observe: obs.observe,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Identify: func(r *http.Request) (string, error) {
			if Authorization(r) == "Bearer alice-token" {
				SetAccount(r, "alice")
				return "team", nil
			}
			return "", nil
		},
	})

	e.do(t, "POST", "/store/write", `{"record":{"key":"k","value":"dg=="}}`, "Authorization", "Bearer alice-token").want(t, 204, "")
	info := obs.next(t)
	if !info.Routed || info.Service != "store" || info.Endpoint != "Store.Write" || info.Status != 204 ||
		info.Namespace != "team" || info.Account != "alice" || info.Route != "" || info.Duration <= 0 {
		t.Fatalf("store write: %+v", info)
	}
	if r := e.do(t, "POST", "/store/read", `{"key":"missing"}`); r.code != 404 {
		t.Fatalf("read of a missing key: %d %s", r.code, r.body)
	}
	if info := obs.next(t); !info.Routed || info.Endpoint != "Store.Read" || info.Status != 404 || info.Namespace != "micro" || info.Account != "" {
		t.Fatalf("store read: %+v", info)
	}

	// Names nobody knows are reported but not routed.
	e.do(t, "POST", "/nosuch/thing", `{}`)
	if info := obs.next(t); info.Routed || info.Service != "nosuch" || info.Endpoint != "Nosuch.Thing" || info.Status != 500 {
		t.Fatalf("unknown service: %+v", info)
	}
	e.do(t, "POST", "/store/nope", `{}`)
	if info := obs.next(t); info.Routed || info.Status != 404 {
		t.Fatalf("unknown endpoint: %+v", info)
	}
	e.do(t, "POST", "/foo/-", `{}`)
	if info := obs.next(t); info.Routed || info.Service != "" || info.Status != 400 {
		t.Fatalf("bad path: %+v", info)
	}

	// The gateway's own routes say which they are.
	for _, c := range []struct{ method, path, route string }{
		{"GET", "/", "/"}, {"GET", "/health", "/health"}, {"OPTIONS", "/store/read", "OPTIONS"},
	} {
		e.do(t, c.method, c.path, "")
		if info := obs.next(t); info.Route != c.route || info.Routed || info.Status != 200 || info.Method != c.method {
			t.Fatalf("%s %s: %+v", c.method, c.path, info)
		}
	}

	out := logs.String()
	if !strings.Contains(out, `msg="gateway request" method=POST path=/store/write status=204 service=store endpoint=Store.Write namespace=team account=alice`) {
		t.Fatalf("request log:\n%s", out)
	}
	if strings.Contains(out, "alice-token") {
		t.Fatalf("token logged:\n%s", out)
	}
}

// TestHealth: GET /health asks Config.Health, with a deadline, and answers
// a 503 micro error when it fails.
func TestHealth(t *testing.T) {
	var mu sync.Mutex
	var failure error
	e := newEnv(t, Config{Health: func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return stderrors.New("no deadline")
		}
		mu.Lock()
		defer mu.Unlock()
		return failure
	}})
	e.do(t, "GET", "/health", "").want(t, 200, `{"status":"ok"}`)
	if r := e.do(t, "HEAD", "/health", ""); r.code != 200 {
		t.Fatalf("HEAD /health: %d", r.code)
	}

	mu.Lock()
	failure = stderrors.New("database: disk I/O error")
	mu.Unlock()
	e.do(t, "GET", "/health", "").want(t, 503,
		`{"id":"go.micro.api","code":503,"detail":"not ready: database: disk I/O error","status":"Service Unavailable"}`)
	if r := e.do(t, "HEAD", "/health", ""); r.code != 503 {
		t.Fatalf("HEAD /health when unhealthy: %d", r.code)
	}
}

// TestHealthDetail: what Config.HealthDetail reports rides along with a
// ready answer without changing its status.
func TestHealthDetail(t *testing.T) {
	var detail map[string]any
	e := newEnv(t, Config{
		Health:       func(context.Context) error { return nil },
		HealthDetail: func() map[string]any { return detail },
	})
	e.do(t, "GET", "/health", "").want(t, 200, `{"status":"ok"}`)
	detail = map[string]any{"backup": map[string]any{"status": "failing", "error": "put: connection refused"}}
	e.do(t, "GET", "/health", "").want(t, 200,
		`{"detail":{"backup":{"error":"put: connection refused","status":"failing"}},"status":"ok"}`)
}
