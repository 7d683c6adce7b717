package metrics

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/runtime"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/schema"
)

// collectTimeout bounds a collector's reads at scrape time.
const collectTimeout = 5 * time.Second

// WatchDatabase adds the database's read pool statistics (go_sql_*,
// db_name "read") and the sizes of its file and its write-ahead log.
func (m *Metrics) WatchDatabase(db *schema.DB) {
	size := func(path string) float64 {
		fi, err := os.Stat(path)
		if err != nil {
			// No WAL between a checkpoint-and-close and the next write is
			// a size of zero, not an error.
			if !errors.Is(err, fs.ErrNotExist) {
				m.log.Warn("metrics: cannot stat the database", "path", path, "err", err)
			}
			return 0
		}
		return float64(fi.Size())
	}
	m.reg.MustRegister(
		collectors.NewDBStatsCollector(db.Read(), "read"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "micro_db_file_bytes", Help: "Size of the database file.",
		}, func() float64 { return size(db.Path()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "micro_db_wal_bytes", Help: "Size of the database's write-ahead log (the -wal file).",
		}, func() float64 { return size(db.Path() + "-wal") }),
	)
}

// RuntimeSource is the runtime block, as its collector reads it.
type RuntimeSource interface {
	Stats(ctx context.Context) (runtime.Stats, error)
}

// WatchRuntime adds micro_runtime_services{status} and
// micro_runtime_restarts_total, read from rt at each scrape.
func (m *Metrics) WatchRuntime(rt RuntimeSource) {
	services := prometheus.NewDesc("micro_runtime_services", "Services the runtime runs, by status.", []string{"status"}, nil)
	restarts := prometheus.NewDesc("micro_runtime_restarts_total", "Restarts of services that crashed or could not start.", nil, nil)
	m.reg.MustRegister(&funcCollector{
		descs: []*prometheus.Desc{services, restarts},
		collect: func(ctx context.Context, ch chan<- prometheus.Metric) error {
			st, err := rt.Stats(ctx)
			if err != nil {
				return err
			}
			for status, n := range st.Services {
				ch <- prometheus.MustNewConstMetric(services, prometheus.GaugeValue, float64(n), status.String())
			}
			ch <- prometheus.MustNewConstMetric(restarts, prometheus.CounterValue, float64(st.Restarts))
			return nil
		},
	})
}

// RegistrySource is the registry block, as its collector reads it.
type RegistrySource interface {
	List(ctx context.Context, domain string) ([]*regpb.Service, error)
}

// WatchRegistry adds micro_registry_services and micro_registry_nodes
// (live registered service versions and their nodes, every namespace),
// read from reg at each scrape.
func (m *Metrics) WatchRegistry(reg RegistrySource) {
	services := prometheus.NewDesc("micro_registry_services", "Live registered service versions, every namespace.", nil, nil)
	nodes := prometheus.NewDesc("micro_registry_nodes", "Live nodes of registered services, every namespace.", nil, nil)
	m.reg.MustRegister(&funcCollector{
		descs: []*prometheus.Desc{services, nodes},
		collect: func(ctx context.Context, ch chan<- prometheus.Metric) error {
			svcs, err := reg.List(ctx, registry.AnyDomain)
			if err != nil {
				return err
			}
			n := 0
			for _, s := range svcs {
				n += len(s.Nodes)
			}
			ch <- prometheus.MustNewConstMetric(services, prometheus.GaugeValue, float64(len(svcs)))
			ch <- prometheus.MustNewConstMetric(nodes, prometheus.GaugeValue, float64(n))
			return nil
		},
	})
}

// funcCollector reads its metrics at scrape time; when the read fails the
// scrape reports the error (and, with ContinueOnError, the other
// collectors' series).
type funcCollector struct {
	descs   []*prometheus.Desc
	collect func(ctx context.Context, ch chan<- prometheus.Metric) error
}

func (f *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.descs {
		ch <- d
	}
}

func (f *funcCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	if err := f.collect(ctx, ch); err != nil {
		ch <- prometheus.NewInvalidMetric(f.descs[0], err)
	}
}
