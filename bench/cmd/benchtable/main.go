// Command benchtable reads the output of the bench module's benchmarks on
// stdin, passes it through, and ends with the table the README shows: each
// micro path's throughput as a ratio to its peer measured in the same run,
// against the target, and the server's own figures. Ratios are
// named the way internal/benchratio names its pairs: a benchmark and its
// baseline.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// pairs: micro's benchmark, its baseline, the target (micro's throughput
// as a multiple of the baseline's; 0 for none) and what it says.
var pairs = []struct {
	bench, base string
	target      float64
	what        string
}{
	{"Helloworld/proxy-1", "Helloworld/direct-1", 0.7, "helloworld through the proxy (gRPC) vs direct gRPC, 1 caller"},
	{"Helloworld/proxy-16", "Helloworld/direct-16", 0.7, "same, 16 callers"},
	{"Helloworld/gateway-1", "Helloworld/direct-1", 0.5, "helloworld through the gateway (HTTP JSON) vs direct gRPC, 1 caller"},
	{"Helloworld/gateway-16", "Helloworld/direct-16", 0.5, "same, 16 callers"},
	{"StoreRead/gateway-16", "StoreRead/nethttp-16", 0.5, "store read through the gateway vs net/http + SQLite read, 16 callers"},
	{"StoreWrite/gateway-16", "StoreWrite/nethttp-tx-16", 2, "store write through the gateway vs net/http + SQLite, a transaction per write (synchronous=FULL), 16 callers"},
	{"StoreWrite/gateway-16", "StoreWrite/nethttp-batched-16", 0, "same vs net/http + SQLite batching concurrent writes into one transaction: the cost of the hops"},
	{"Publish/proxy-16", "Publish/jetstream-16", 1, "event publish through the proxy, acked after commit, vs JetStream sync publish (file storage, NATS's default fsync every 2 min), 16 callers"},
	{"Publish/proxy-16", "Publish/jetstream-syncalways-16", 0, "same vs JetStream with sync_always (an fsync before each ack, as micro's synchronous=FULL)"},
	{"Consume/proxy", "Consume/jetstream", 0.5, "event consume with acks through the proxy (durable group) vs JetStream durable pull consumer, explicit acks"},
}

// figures: a benchmark's own metric against a ceiling.
var figures = []struct {
	bench, unit string
	scale       float64 // applied to the metric
	shown       string
	ceiling     float64
	what        string
}{
	{"Server/idle-rss", "MB", 1, "MB", 30, "idle micro server's resident memory after start"},
	{"Server/idle-rss", "anon-MB", 1, "MB", 0, "of which its own memory (heap, stacks); the rest are the binary's pages"},
	{"Server/start-1GB", "ms/start", 1, "ms", 100, "exec to GET /health answering, 1 GB database"},
	{"Server/start-1GB", "cpu-ms/start", 1, "ms of CPU", 0, "CPU the process spent until serving, 1 GB database"},
	{"Server/start-empty", "ms/start", 1, "ms", 0, "exec to GET /health answering, a database with nothing in it"},
	{"Server/start-empty", "cpu-ms/start", 1, "ms of CPU", 0, "CPU the process spent until serving, a database with nothing in it"},
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func main() {
	metrics := map[string]map[string]float64{} // bench -> unit -> value
	cpu := ""
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		fmt.Println(text)
		if v, ok := strings.CutPrefix(text, "cpu: "); ok {
			cpu = strings.TrimSpace(v)
		}
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				if metrics[m[1]] == nil {
					metrics[m[1]] = map[string]float64{}
				}
				metrics[m[1]][f[i+1]] = v
			}
		}
	}
	report(os.Stdout, metrics, cpu)
}

func report(w io.Writer, metrics map[string]map[string]float64, cpu string) {
	fmt.Fprintf(w, "\nMeasured %s on %s, %d CPUs (GOMAXPROCS), %s/%s, %s, load average %s at the end.\n\n",
		time.Now().UTC().Format("2006-01-02"), orUnknown(cpu), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAverage())
	fmt.Fprintln(w, "| micro | baseline (same run) | micro's throughput vs baseline | target | baseline's CPU per op vs micro's | what |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, p := range pairs {
		b, base := metrics[p.bench]["ns/op"], metrics[p.base]["ns/op"]
		if b == 0 || base == 0 {
			continue
		}
		ratio := base / b
		// CPU time per op (every thread of the process, servers included)
		// barely moves with other load on the machine, where wall-clock
		// throughput does: on a busy machine it is the figure to trust.
		cpu := ""
		if c, cbase := metrics[p.bench]["cpu-ns/op"], metrics[p.base]["cpu-ns/op"]; c > 0 && cbase > 0 {
			cpu = fmt.Sprintf("%.2fx", cbase/c)
		}
		fmt.Fprintf(w, "| %s | %s | %.2fx | %s | %s | %s |\n", p.bench, p.base, ratio, target(">= ", p.target, "x", ratio >= p.target), cpu, p.what)
	}
	for _, f := range figures {
		v, ok := metrics[f.bench][f.unit]
		if !ok {
			continue
		}
		v *= f.scale
		fmt.Fprintf(w, "| %s | | %.1f %s | %s | | %s |\n", f.bench, v, f.shown, target("<= ", f.ceiling, " "+f.shown, v <= f.ceiling), f.what)
	}
}

func target(op string, t float64, unit string, met bool) string {
	if t == 0 {
		return ""
	}
	s := op + strconv.FormatFloat(t, 'f', -1, 64) + unit
	if !met {
		s += " (not met)"
	}
	return s
}

// loadAverage is the machine's 1-minute load average, which says how far
// to trust wall-clock ratios: other work competes for the same cores.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed CPU"
	}
	return s
}
