package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"micro.dev/micro/framework/errors"
)

// HealthTimeout bounds Config.Health.
const HealthTimeout = 5 * time.Second

// RequestInfo is what the gateway learnt of one request, for its request
// log and Config.Observe. The gateway fills it in as the request goes.
type RequestInfo struct {
	// Method and Path are the request's.
	Method, Path string
	// Route names the gateway's own routes: "OPTIONS", "/", "/health",
	// "/favicon.ico"; "" for a call to a service.
	Route string
	// Service and Endpoint are the call's, as the path maps them; "" when
	// the path names no call.
	Service, Endpoint string
	// Routed reports that the router found the service and endpoint, so
	// the names are real ones rather than whatever the client typed (which
	// metrics must not use as labels).
	Routed bool
	// Namespace is the call's namespace. Account is the id of the caller's
	// account when Config.Identify learnt it (SetAccount), else "".
	Namespace, Account string
	// Status is the HTTP status answered, Bytes the body's size and
	// Duration how long the answer took; set when it is done.
	Status   int
	Bytes    int64
	Duration time.Duration
}

type infoKey struct{}

// InfoFrom returns the RequestInfo of the request whose context is ctx, nil
// outside the gateway.
func InfoFrom(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(infoKey{}).(*RequestInfo)
	return info
}

// SetAccount records the caller's account id for the request log; the
// node's Identify calls it once it knows who is calling.
func SetAccount(r *http.Request, id string) {
	if info := InfoFrom(r.Context()); info != nil {
		info.Account = id
	}
}

// noteCall records the service and endpoint a request names.
func noteCall(r *http.Request, service, endpoint string) {
	if info := InfoFrom(r.Context()); info != nil {
		info.Service, info.Endpoint = service, endpoint
	}
}

// noteRouted records that the router found the call's service; service is
// the one it found (a versioned path may fall back to the plain name).
func noteRouted(r *http.Request, service, namespace string) {
	if info := InfoFrom(r.Context()); info != nil {
		info.Service, info.Namespace, info.Routed = service, namespace, true
	}
}

// done completes info once the answer is written, hands it to
// Config.Observe and logs the request at debug (failures the server is to
// blame for are logged at warn where they happen: logError).
func (g *Gateway) done(r *http.Request, info *RequestInfo, rec *recorder, start time.Time) {
	info.Status, info.Bytes, info.Duration = rec.status, rec.bytes, time.Since(start)
	if info.Status == 0 {
		info.Status = http.StatusOK // net/http's answer to a handler that wrote nothing
	}
	if g.cfg.Observe != nil {
		g.cfg.Observe(info)
	}
	if !g.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	g.log.LogAttrs(r.Context(), slog.LevelDebug, "gateway request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", info.Status),
		slog.String("service", info.Service), slog.String("endpoint", info.Endpoint),
		slog.String("namespace", info.Namespace), slog.String("account", info.Account),
		slog.Int64("bytes", info.Bytes), slog.Duration("duration", info.Duration), slog.String("remote", g.cfg.TrustedProxies.Of(r)))
}

// serveHealth answers GET /health: {"status":"ok"} when Config.Health finds
// the node ready, else a 503 saying what is wrong.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
		err := g.cfg.Health(ctx)
		cancel()
		if err != nil {
			g.fail(w, r, errors.ServiceUnavailable(apiID, "not ready: %v", err))
			return
		}
	}
	body := map[string]any{"status": "ok"}
	if g.cfg.HealthDetail != nil {
		if detail := g.cfg.HealthDetail(); len(detail) > 0 {
			body["detail"] = detail
		}
	}
	writeJSON(w, body)
}
