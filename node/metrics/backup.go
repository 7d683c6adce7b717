package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"micro.dev/micro/backup"
)

// BackupSource is the backup scheduler, as its collector reads it.
type BackupSource interface {
	Status() backup.Status
}

// WatchBackups adds the scheduled backups' series, read from src at each
// scrape. Alert on time() - micro_backup_last_success_timestamp_seconds
// growing past the schedule, or on micro_backup_failing.
func (m *Metrics) WatchBackups(src BackupSource) {
	lastSuccess := prometheus.NewDesc("micro_backup_last_success_timestamp_seconds",
		"When the last good backup finished (Unix time); 0 when none has since the server started.", nil, nil)
	failing := prometheus.NewDesc("micro_backup_failing", "1 when the last backup failed, else 0.", nil, nil)
	successes := prometheus.NewDesc("micro_backup_successes_total", "Backups put at the destination since the server started.", nil, nil)
	failures := prometheus.NewDesc("micro_backup_failures_total", "Backups that failed since the server started.", nil, nil)
	took := prometheus.NewDesc("micro_backup_last_duration_seconds", "How long the last good backup took, snapshot to upload.", nil, nil)
	size := prometheus.NewDesc("micro_backup_last_size_bytes", "Compressed size of the last good backup.", nil, nil)
	standby := prometheus.NewDesc("micro_backup_standby",
		"1 when another node of the cluster (the one that leads) takes the scheduled backups, else 0: alert on the cluster's newest last success.", nil, nil)
	m.reg.MustRegister(&funcCollector{
		descs: []*prometheus.Desc{lastSuccess, failing, successes, failures, took, size, standby},
		collect: func(_ context.Context, ch chan<- prometheus.Metric) error {
			st := src.Status()
			ch <- prometheus.MustNewConstMetric(lastSuccess, prometheus.GaugeValue, unixSeconds(st.LastSuccess))
			ch <- prometheus.MustNewConstMetric(failing, prometheus.GaugeValue, boolValue(st.Failing()))
			ch <- prometheus.MustNewConstMetric(successes, prometheus.CounterValue, float64(st.Successes))
			ch <- prometheus.MustNewConstMetric(failures, prometheus.CounterValue, float64(st.Failures))
			ch <- prometheus.MustNewConstMetric(took, prometheus.GaugeValue, st.Last.Took.Seconds())
			ch <- prometheus.MustNewConstMetric(size, prometheus.GaugeValue, float64(st.Last.Size))
			ch <- prometheus.MustNewConstMetric(standby, prometheus.GaugeValue, boolValue(st.Standby != ""))
			return nil
		},
	})
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
