// Package metrics is the node's Prometheus instrumentation: the gRPC
// proxy's calls, the HTTP gateway's requests, the database writer's
// transactions, the read pool and file sizes, the runtime's services, the
// registry's nodes, and the Go runtime and process. The node feeds it
// through the hooks the other packages offer (proxy.Observer,
// gateway.Config.Observe, schema.Options.Observe) and serves it on the
// gateway at GET /metrics (Mount). Blocks never import it.
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/gateway"
	"micro.dev/micro/proxy"
	"micro.dev/micro/schema"
)

// Label values that stand for names not used as labels.
const (
	// Unknown is the service and endpoint of a call that reached nothing
	// the server knows (an unknown service or method, a path that maps to
	// none, a call refused before routing): the names are the caller's to
	// choose, and each would make a new series.
	Unknown = "unknown"
	// Other is the service and endpoint of known calls past MaxNames.
	Other = "other"
	// Gateway is the service of the gateway's own routes (/, /health,
	// OPTIONS); the endpoint is the route.
	Gateway = "gateway"
)

// MaxNames bounds the distinct service/endpoint pairs each of the gRPC and
// HTTP families labels; later pairs are counted as Other. A registered
// service that lists no endpoints accepts any, so even known names are
// not a bounded set by themselves.
const MaxNames = 2000

// latencyBuckets suit in-process calls (well under a millisecond) as much
// as slow ones; Prometheus's defaults start at 5ms.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds the node's registry and the instruments the hooks feed.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	grpcHandled  *prometheus.CounterVec
	grpcSeconds  *prometheus.HistogramVec
	grpcStreams  *prometheus.GaugeVec
	httpRequests *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	grpcNames    names
	httpNames    names

	writeBatch     prometheus.Histogram
	writeCommits   prometheus.Counter
	writeRollbacks prometheus.Counter
	writeSeconds   prometheus.Histogram
	writeQueue     prometheus.Histogram
}

// New returns the node's metrics with the Go runtime and process
// collectors and micro_build_info registered. log gets errors met while
// serving a scrape; nil means slog.Default().
func New(version string, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log}
	m.grpcNames.max, m.httpNames.max = MaxNames, MaxNames
	names := []string{"service", "endpoint"}
	withCode := []string{"service", "endpoint", "code"}

	m.grpcHandled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "micro_grpc_server_handled_total",
		Help: "Calls the gRPC proxy answered (the gateway's included), by service, endpoint and gRPC code.",
	}, withCode)
	m.grpcSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "micro_grpc_server_handling_seconds",
		Help:    "How long the gRPC proxy took to answer a call; a stream's time is its whole life.",
		Buckets: latencyBuckets,
	}, names)
	m.grpcStreams = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "micro_grpc_server_streams_in_flight",
		Help: "Streaming calls open through the gRPC proxy.",
	}, names)
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "micro_http_requests_total",
		Help: "Requests the HTTP gateway answered, by service, endpoint and HTTP status.",
	}, withCode)
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "micro_http_request_duration_seconds",
		Help:    "How long the HTTP gateway took to answer a request; a stream's time is its whole life.",
		Buckets: latencyBuckets,
	}, names)

	m.writeBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "micro_db_write_batch_size",
		Help:    "Writes grouped into one transaction by the database writer (group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 .. 512
	})
	tx := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "micro_db_write_transactions_total",
		Help: "Transactions of the database writer, by result: commit or rollback.",
	}, []string{"result"})
	m.writeCommits, m.writeRollbacks = tx.WithLabelValues("commit"), tx.WithLabelValues("rollback")
	m.writeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "micro_db_write_seconds",
		Help:    "How long a write took from being queued to its transaction's commit: queue wait plus commit.",
		Buckets: latencyBuckets,
	})
	m.writeQueue = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "micro_db_write_queue_seconds",
		Help:    "How long a write waited for the writer before its transaction began.",
		Buckets: latencyBuckets,
	})

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "micro_build_info", Help: "Always 1; the version label says which micro is running.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)

	m.reg.MustRegister(m.grpcHandled, m.grpcSeconds, m.grpcStreams, m.httpRequests, m.httpSeconds,
		m.writeBatch, tx, m.writeSeconds, m.writeQueue, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the node's collectors are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CallStarted implements proxy.Observer.
func (m *Metrics) CallStarted(c *proxy.Call) {
	if c.Stream {
		service, endpoint := m.callNames(c)
		m.grpcStreams.WithLabelValues(service, endpoint).Inc()
	}
}

// CallEnded implements proxy.Observer.
func (m *Metrics) CallEnded(c *proxy.Call) {
	service, endpoint := m.callNames(c)
	if c.Stream {
		m.grpcStreams.WithLabelValues(service, endpoint).Dec()
	}
	m.grpcHandled.WithLabelValues(service, endpoint, c.Code.String()).Inc()
	m.grpcSeconds.WithLabelValues(service, endpoint).Observe(c.Duration.Seconds())
}

// callNames are the labels of a call: the same at its start and its end,
// since Known and the names never change once it has started.
func (m *Metrics) callNames(c *proxy.Call) (service, endpoint string) {
	if !c.Known {
		return Unknown, Unknown
	}
	return m.grpcNames.label(c.Service, c.Endpoint)
}

// ObserveRequest is the gateway's Config.Observe.
func (m *Metrics) ObserveRequest(info *gateway.RequestInfo) {
	service, endpoint := Unknown, Unknown
	switch {
	case info.Routed:
		service, endpoint = m.httpNames.label(info.Service, info.Endpoint)
	case info.Route != "":
		service, endpoint = Gateway, info.Route
	}
	m.httpRequests.WithLabelValues(service, endpoint, strconv.Itoa(info.Status)).Inc()
	m.httpSeconds.WithLabelValues(service, endpoint).Observe(info.Duration.Seconds())
}

// ObserveWrites is the database's schema.Options.Observe.
func (m *Metrics) ObserveWrites(b schema.WriteBatch) {
	m.writeBatch.Observe(float64(b.Writes))
	if b.Err != nil {
		m.writeRollbacks.Inc()
	} else {
		m.writeCommits.Inc()
	}
	for _, wait := range b.Waits {
		m.writeQueue.Observe(wait.Seconds())
		m.writeSeconds.Observe((wait + b.Commit).Seconds())
	}
}

// Mount serves the metrics at GET /metrics (text exposition, or whatever
// the scraper negotiates) and every other request with next. allow, when
// set, decides who may read them: its error (a micro 401 or 403) answers
// the request instead.
func (m *Metrics) Mount(next http.Handler, allow func(*http.Request) error) http.Handler {
	expose := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector that fails (a busy database, say) leaves its
		// series out; the rest of the scrape still answers.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		Timeout:       30 * time.Second,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errors.MethodNotAllowed("micro", "GET /metrics reads the metrics; %s is not supported", r.Method))
			return
		}
		if allow != nil {
			if err := allow(r); err != nil {
				writeError(w, errors.FromError(err, "micro"))
				return
			}
		}
		expose.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, e *errors.Error) {
	body := []byte(e.Error())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	code := int(e.Code)
	if code < 100 || code > 599 {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	w.Write(body)
}

// names bounds the service/endpoint pairs a family labels with.
type names struct {
	mu   sync.RWMutex
	seen map[[2]string]struct{}
	max  int
}

// label returns service and endpoint as they are when the pair has a place
// (it had one before, or there is room), else Other twice. A pair keeps
// the answer it first got, so a stream's start and end agree.
func (n *names) label(service, endpoint string) (string, string) {
	key := [2]string{service, endpoint}
	n.mu.RLock()
	_, ok := n.seen[key]
	full := len(n.seen) >= n.max
	n.mu.RUnlock()
	if ok {
		return service, endpoint
	}
	if full {
		return Other, Other
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[[2]string]struct{}{}
	}
	if _, ok := n.seen[key]; !ok && len(n.seen) >= n.max {
		return Other, Other
	}
	n.seen[key] = struct{}{}
	return service, endpoint
}
