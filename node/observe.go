package node

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	microauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/gateway"
)

// watch adds the blocks' collectors to the node's metrics: the database's
// pool and sizes, the runtime's services and the registry's nodes.
func (n *Node) watch() {
	n.metrics.WatchDatabase(n.db)
	n.metrics.WatchRuntime(n.runtime)
	n.metrics.WatchRegistry(n.registry)
}

// health is the gateway's readiness check (GET /health): the database
// answers a query, and the proxy answers a gRPC health check in-process,
// through the same door the gateway's calls take.
func (n *Node) health(ctx context.Context) error {
	var one int
	if err := n.db.Read().QueryRowContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1").Scan(&one); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	// Reads work on a full disk, writes do not: not healthy.
	if err := n.db.Health(); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	rsp, err := healthpb.NewHealthClient(n.inproc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if s := rsp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("proxy: %s", s)
	}
	return nil
}

// metricsAccess decides who may read GET /metrics: anyone with
// --metrics-public; else a bearer of the --metrics-token value, or of an
// access token of an admin account of namespace micro.
func (n *Node) metricsAccess(cfg Config) func(*http.Request) error {
	if cfg.MetricsPublic {
		return nil
	}
	return func(r *http.Request) error {
		authz := gateway.Authorization(r)
		if cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(authz), []byte("Bearer "+cfg.MetricsToken)) == 1 {
			return nil
		}
		acc, err := n.auth.Identify(r.Context(), authz)
		if err != nil {
			return err
		}
		if acc == nil {
			return errors.Unauthorized("micro", "GET /metrics needs an admin token of namespace micro or the --metrics-token "+
				"(Authorization: Bearer ...); start the server with --metrics-public to open it")
		}
		return microauth.AuthorizeAdmin(microauth.ContextWithAccount(r.Context(), acc), metadata.DefaultNamespace)
	}
}
