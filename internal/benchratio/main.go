// Command benchratio reads `go test -bench` output on stdin, passes it
// through, and ends with a table of each benchmark's time per operation as
// a ratio to its baseline from the same run. Absolute figures on shared
// machines drift from run to run; a ratio to a baseline measured beside it
// does not drift as much.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// pairs names, per package, each benchmark and its baseline.
var pairs = []struct{ pkg, bench, base, what string }{
	{"blocks/store", "WriteViaProxy", "RawSQLiteInsert", "store write through a node's proxy vs raw SQLite insert"},
	{"blocks/store", "WriteConcurrent", "RawSQLiteInsert", "store write over gRPC to the block vs raw SQLite insert"},
	{"blocks/store", "Backend/jetstream-write", "Backend/sqlite-write", "store write, JetStream R1 backend vs SQLite backend"},
	{"blocks/store", "Backend/jetstream-read", "Backend/sqlite-read", "store read of one key, JetStream R1 backend vs SQLite backend"},
	{"blocks/events", "PublishConcurrent", "RawSQLiteInsert", "event publish over gRPC vs raw SQLite insert"},
	{"blocks/events", "Consume", "RawSQLiteRead", "event consume (auto-ack) vs raw SQLite batched read"},
	{"blocks/events", "ConsumeGroupAck", "RawSQLiteRead", "event consume, durable group, acked vs raw SQLite read"},
	{"node", "Helloworld/proxy", "Helloworld/direct", "helloworld call through the proxy vs direct gRPC"},
	{"node", "Helloworld/gateway", "Helloworld/direct", "helloworld call through the gateway (HTTP JSON) vs direct gRPC"},
	{"node", "Helloworld/proxy-parallel", "Helloworld/direct-parallel", "same, parallel callers: proxy"},
	{"node", "Helloworld/gateway-parallel", "Helloworld/direct-parallel", "same, parallel callers: gateway"},
	{"backup", "Backup/with-writers", "Backup/idle", "one scheduled backup while 8 writers write vs none"},
	{"backup", "Write/during-backup", "Write/idle", "a write while backups run back to back vs none"},
	{"node", "StoreWriteGateway/https", "StoreWriteGateway/http", "store write through the gateway over HTTPS vs plain HTTP"},
	{"proxy", "AuthOverhead/auth-admin-token", "AuthOverhead/baseline-no-auth", "proxy call with a token checked vs no auth"},
	{"proxy", "Tracing/on", "Tracing/off", "proxy call with tracing on (a span per call) vs off"},
	{"node", "GatewayTracing/on", "GatewayTracing/off", "helloworld through the gateway, node and service tracing vs not"},
	{"node", "Cluster/store-write/cluster", "Cluster/store-write/appliance", "store write on a node of a 3-node cluster (R3) vs the single-file appliance"},
	{"node", "Cluster/events-publish/cluster", "Cluster/events-publish/appliance", "event publish on a node of a 3-node cluster (R3) vs the appliance"},
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op`)

func main() {
	nsop := map[string]float64{} // "pkg bench" -> ns/op
	pkg := ""
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		fmt.Println(text)
		if p, ok := strings.CutPrefix(text, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "micro.dev/micro/")
		}
		if m := line.FindStringSubmatch(text); m != nil {
			if v, err := strconv.ParseFloat(m[3], 64); err == nil {
				nsop[pkg+" "+m[1]] = v
			}
		}
	}
	report(os.Stdout, nsop)
}

func report(w io.Writer, nsop map[string]float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nBENCHMARK\tBASELINE\tTIME/OP RATIO\tWHAT")
	for _, p := range pairs {
		b, okB := nsop[p.pkg+" "+p.bench]
		base, okBase := nsop[p.pkg+" "+p.base]
		if !okB || !okBase || base == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%.2fx\t%s\n", p.pkg, p.bench, p.base, b/base, p.what)
	}
	tw.Flush()
}
