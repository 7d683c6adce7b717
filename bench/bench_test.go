package bench

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node"
)

// callers is how many goroutines call at once in the parallel benchmarks,
// whatever GOMAXPROCS is.
const callers = 16

// trace runs the node as `micro server` does by default: recording spans
// of every call into its database. -trace=false runs it as make bench's
// node benchmarks do, untraced.
var trace = flag.Bool("trace", true, "run the node and the helloworld service with tracing on, as micro server's default")

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// parallel makes b.RunParallel use callers goroutines.
func parallel(b *testing.B) {
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
}

// startNode runs a whole micro node (every block, the proxy and the
// gateway on loopback ports) on a new database; it stops with b. Its
// garbage collector is paced as micro server's is (node.Config.PaceGC);
// the setting being the process's, a peer measured while the node runs
// (helloworld's direct calls) has it too, the others run at Go's default.
func startNode(b *testing.B) *node.Node {
	b.Helper()
	n, err := node.Start(context.Background(), node.Config{Data: filepath.Join(b.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: quiet(), Trace: *trace, PaceGC: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	return n
}

// httpClient keeps a connection per caller, as a load generator does.
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * callers, MaxIdleConnsPerHost: 2 * callers}}
}

// post sends one JSON request and returns the answer's body, failing on
// anything but a 2xx.
func post(c *http.Client, url, token, body string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer rsp.Body.Close()
	data, err := io.ReadAll(rsp.Body)
	if err != nil {
		return nil, err
	}
	if rsp.StatusCode/100 != 2 {
		return nil, &statusError{rsp.Status, string(data)}
	}
	return data, nil
}

type statusError struct{ status, body string }

func (e *statusError) Error() string { return e.status + ": " + e.body }

// run runs call b.N times, from one goroutine or from callers at once.
func run(b *testing.B, many bool, call func() error) {
	b.Helper()
	defer testkit.CPUPerOp(b)()
	if !many {
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	parallel(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
