package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeMetrics reads GET /metrics with the given Authorization header ("" for
// none) and parses the text exposition.
func scrapeMetrics(t *testing.T, s *server, authorization string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.gateway+"/metrics", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK || !strings.HasPrefix(rsp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sample returns the value of the series of family name whose labels
// include want (name, value, ...): a counter's or gauge's value, a
// histogram's count; -1 when there is no such series.
func sample(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if got[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetrics: /metrics needs an admin token or the metrics token, and
// shows the calls made over HTTP and gRPC, the database's writes and the
// blocks' state; every call is logged at debug without its token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--metrics-token", "scrape-secret", "--log-level", "debug")
	admin := s.adminToken(t)

	// Who may read the metrics.
	code, body := get(t, s.gateway+"/metrics")
	if code != 401 || !strings.Contains(body, `"code":401`) || !strings.Contains(body, "--metrics-public") {
		t.Fatalf("anonymous GET /metrics: %d %s", code, body)
	}
	if code, body, _ := request(t, http.MethodGet, s.gateway+"/metrics", "", "Authorization", "Bearer wrong"); code != 401 {
		t.Fatalf("GET /metrics with a bad token: %d %s", code, body)
	}
	scrapeMetrics(t, s, "Bearer "+admin)

	// Calls through the gateway and, with the CLI, through the proxy.
	for range 3 {
		if code, body := postAs(t, admin, s.gateway+"/store/Store/Write", `{"record":{"key":"k","value":"dg=="}}`); code != 204 {
			t.Fatalf("store write: %d %s", code, body)
		}
	}
	if code, body := postAs(t, admin, s.gateway+"/store/Store/Read", `{"key":"missing"}`); code != 404 {
		t.Fatalf("read of a missing key: %d %s", code, body)
	}
	newAdminCLI(t, s).ok("store", "write", "greeting", "hello")

	// A request is counted as its handler returns, which may be just after
	// its answer arrived: poll for the last one.
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrapeMetrics(t, s, "Bearer scrape-secret")
		if sample(fams, "micro_http_requests_total", "service", "store", "endpoint", "Store.Read", "code", "404") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 404 was not counted: %v", fams["micro_http_requests_total"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels []string
		check  func(float64) bool
		want   string
	}{
		{"micro_http_requests_total", []string{"service", "store", "endpoint", "Store.Write", "code", "204"}, eq(3), "3"},
		// Three writes from the gateway and one from the CLI, all through the proxy.
		{"micro_grpc_server_handled_total", []string{"service", "store", "endpoint", "Store.Write", "code", "OK"}, eq(4), "4"},
		{"micro_grpc_server_handled_total", []string{"service", "store", "endpoint", "Store.Read", "code", "NotFound"}, eq(1), "1"},
		{"micro_grpc_server_handling_seconds", []string{"service", "store", "endpoint", "Store.Write"}, eq(4), "4 samples"},
		{"micro_http_request_duration_seconds", []string{"service", "store", "endpoint", "Store.Write"}, eq(3), "3 samples"},
		{"micro_db_write_batch_size", nil, gt(0), "> 0 batches"},
		{"micro_db_write_transactions_total", []string{"result", "commit"}, gt(0), "> 0"},
		{"micro_db_write_seconds", nil, gt(3), "> 3 writes"},
		{"micro_db_file_bytes", nil, gt(0), "> 0"},
		{"micro_db_wal_bytes", nil, gt(0), "> 0"},
		{"go_sql_open_connections", []string{"db_name", "read"}, gt(0), "> 0"},
		{"micro_runtime_services", []string{"status", "running"}, eq(0), "0"},
		{"micro_runtime_restarts_total", nil, eq(0), "0"},
		{"micro_registry_nodes", nil, eq(0), "0"},
		{"process_resident_memory_bytes", nil, gt(0), "> 0"},
		{"go_goroutines", nil, gt(0), "> 0"},
	} {
		if got := sample(fams, c.name, c.labels...); !c.check(got) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, got, c.want)
		}
	}

	// Health is real: the database and the proxy answer.
	if code, body := get(t, s.gateway+"/health"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("GET /health: %d %s", code, body)
	}

	// Structured logs: each call at debug, with who made it, never the token.
	logs := s.log()
	var proxyLogged, gatewayLogged bool
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "proxy call":
			if rec["service"] == "store" && rec["endpoint"] == "Store.Write" && rec["code"] == "OK" &&
				rec["namespace"] == "micro" && rec["account"] == "admin" && rec["duration"] != nil {
				proxyLogged = true
			}
		case "gateway request":
			if rec["service"] == "store" && rec["endpoint"] == "Store.Read" && rec["status"] == float64(404) &&
				rec["account"] == "admin" {
				gatewayLogged = true
			}
		}
	}
	if !proxyLogged || !gatewayLogged {
		t.Errorf("request logs missing (proxy %v, gateway %v):\n%s", proxyLogged, gatewayLogged, logs)
	}
	if strings.Contains(logs, admin) || strings.Contains(logs, "scrape-secret") {
		t.Errorf("a token was logged")
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(min float64) func(float64) bool  { return func(v float64) bool { return v > min } }

// TestMetricsPublic: --metrics-public opens /metrics to anyone.
func TestMetricsPublic(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--metrics-public")
	fams := scrapeMetrics(t, s, "")
	if sample(fams, "micro_build_info") != 1 {
		t.Fatalf("no micro_build_info in %d families", len(fams))
	}
}

// TestGCPercent: micro server raises the garbage collector's percent over
// Go's default of 100 while its heap is small, unless GOGC is set, which
// it leaves as the user set it (go_gc_gogc_percent is the runtime's own).
func TestGCPercent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env   []string
		check func(float64) bool
		want  string
	}{
		{nil, func(v float64) bool { return v > 100 && v <= 400 }, "over 100, at most 400"},
		{[]string{"GOGC=150"}, eq(150), "150 from GOGC"},
	} {
		// An empty GOGC is Go's default, as unset: the test's own GOGC, if
		// any, stays out.
		s := startServerEnv(t, "", append([]string{"GOGC="}, c.env...), "--metrics-public")
		if got := sample(scrapeMetrics(t, s, ""), "go_gc_gogc_percent"); !c.check(got) {
			t.Errorf("go_gc_gogc_percent with %v = %v, want %s", c.env, got, c.want)
		}
	}
}
