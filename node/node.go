// Package node is the appliance: it opens the database, starts the blocks,
// the gRPC proxy and the HTTP gateway, and shuts them down in order. It only
// wires; every behaviour lives in the packages it starts.
package node

import (
	"context"
	"log/slog"
	"time"

	"micro.dev/micro/cluster"
)

// Config is what `micro server` is started with.
type Config struct {
	// Data is the path of the SQLite file holding every piece of state.
	Data string
	// GatewayAddress is the HTTP API's listen address (":8080"); ":0" picks a port.
	GatewayAddress string
	// ProxyAddress is the gRPC proxy's listen address (":8081").
	ProxyAddress string
	// DashboardAddress is the web dashboard's listen address (":8082"); empty disables it.
	DashboardAddress string
	// ConfigSecretKey seals config secrets: base64 of 32 bytes
	// (MICRO_CONFIG_SECRET_KEY). Empty means a key kept in the database.
	ConfigSecretKey string
	// EventsRetention is how long events are kept unless their topic says
	// otherwise; zero means 24 hours.
	EventsRetention time.Duration
	// Version is reported by GET / and the health service.
	Version string
	// AdminPassword is the default admin's (micro/admin) password, applied
	// at the first start, or later while the admin still has the default
	// password "micro". Empty means "micro", with a warning at every start.
	AdminPassword string
	// MinFreeSpace is the free disk space, in bytes, under which writes
	// are refused (507) before SQLite fails on a full disk; deletes still
	// run in the room it keeps. Zero means no minimum.
	MinFreeSpace int64
	// MaxDBSize caps the database file, in bytes; past it writes are
	// refused (507) as on a full disk. Zero means no cap.
	MaxDBSize int64
	// MaxBlobSize caps one blob of the blob store, in bytes (413 above);
	// zero means store.DefaultMaxBlobSize.
	MaxBlobSize int64
	// Trace records spans of the calls through the gateway, proxy and
	// router, and has services started here record theirs, into the
	// database (at most TraceSpans of them; zero means 100000). Off, the
	// node does no tracing work.
	Trace      bool
	TraceSpans int
	// OTLPEndpoint, with Trace, also exports spans to an OpenTelemetry
	// collector at this host:port (OTLP over gRPC).
	OTLPEndpoint string
	// Limits bound the connections clients hold (limits.go).
	Limits Limits
	// PaceGC has the garbage collector's percent follow the live heap
	// from the end of the start to Close (internal/gcpercent): up to
	// GOGC=400 while the heap is small, never more than 64 MiB of garbage
	// beyond what Go's default holds. GOGC set in the environment wins.
	// It changes the whole process: micro server sets it, one node per
	// process; tests and programs embedding nodes leave it off.
	PaceGC bool
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// MetricsPublic serves GET /metrics on the gateway to anyone; otherwise
	// it needs an admin token of namespace micro, or MetricsToken.
	MetricsPublic bool
	// MetricsToken, when set, is a bearer token that may read GET /metrics
	// (for a Prometheus scrape config); access tokens expire, it does not.
	MetricsToken string
	// BackupTo, when set, is where scheduled backups go: a directory, or
	// s3://bucket/prefix (see backup.Open). Empty: no scheduled backups.
	BackupTo string
	// BackupEvery is the time between backups; it must be positive when
	// BackupTo is set (the CLI's default is an hour).
	BackupEvery time.Duration
	// BackupKeep is how many backups retention leaves at BackupTo; zero
	// keeps them all.
	BackupKeep int

	// TLS (node/tls.go). Domains turns on HTTPS with certificates from
	// an ACME CA (ACMEDirectory, default Let's Encrypt), cached in the
	// database; TLSCert and TLSKey serve a given pair instead, read again
	// when the files change or on SIGHUP. Either way the gateway, proxy
	// and dashboard listeners speak TLS only. A clustered node may have
	// them: calls between nodes go over the cluster's forwarding listener.
	Domains       []string
	ACMEEmail     string
	ACMEDirectory string
	// ACMECARoots is a PEM file of CAs trusted for the ACME directory's
	// HTTPS (a private or test CA); empty means the system's roots.
	ACMECARoots     string
	TLSCert, TLSKey string
	// HTTPAddress, with TLS, is a plain-HTTP listener answering ACME
	// HTTP-01 challenges and redirecting the rest to HTTPS (":80").
	HTTPAddress string
	// TrustedProxies are CIDRs of load balancers whose X-Forwarded-For
	// and X-Forwarded-Proto are believed.
	TrustedProxies []string
	// RuntimeNamespaces are the namespaces whose own admins may run code
	// on this machine (micro run); "*" is every one. Elsewhere only an
	// admin of namespace micro may: a service runs as the server's user.
	RuntimeNamespaces []string
	// RuntimeLogBytes and RuntimeLogAge cap each service's logs kept in
	// the database (oldest lines dropped); zero means 4 MiB and 7 days.
	RuntimeLogBytes int64
	RuntimeLogAge   time.Duration

	// Cluster, with Cluster.Listen set (--cluster), makes this node one
	// of a cluster on an embedded NATS JetStream (node/cluster.go); its
	// Data and Logger are the node's own. Empty, no NATS runs.
	Cluster cluster.Config
	// ClusterAdvertise is the host or IP other nodes reach this node at
	// (its forwarding listener, and its proxy in the members list); empty
	// means the listener's or --cluster's host, else the local address
	// facing the first peer.
	ClusterAdvertise string
	// ClusterForward is the listener other nodes forward calls for this
	// node's services to (host:port); empty means --cluster's host at
	// cluster.DefaultForwardPort. It speaks mutual TLS with the cluster's
	// certificate when Cluster.TLSCert is set, else plaintext.
	ClusterForward string
	// ClusterImport, on a node of a cluster, imports the appliance's file
	// at this path when the node starts and the cluster holds no data yet
	// (node/import.go); a cluster that holds data is left as it is.
	ClusterImport string
}

// Run starts a node with cfg and serves until ctx is done, then shuts down.
func Run(ctx context.Context, cfg Config) error {
	n, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return n.Close()
}
