package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/testdata/helloworld/handler"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// BenchmarkHelloworld calls helloworld's Helloworld.Call four ways in the
// same run: directly over gRPC (the baseline), through the proxy over gRPC,
// and through the gateway over HTTP with JSON, one caller at a time and
// with parallel callers; then prints requests/s and the ratio to the
// baseline.
func BenchmarkHelloworld(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	prev := slog.Default()
	slog.SetDefault(quiet) // the handler logs every call
	defer slog.SetDefault(prev)

	ctx := context.Background()
	n, srv := startHelloworld(b, quiet, false)

	dial := func(addr string) *grpc.ClientConn {
		conn := testkit.Dial(b, addr)
		return conn
	}
	direct, viaProxy := dial(srv.Address()), dial(n.ProxyAddr())
	defer direct.Close()
	defer viaProxy.Close()

	grpcCall := func(conn *grpc.ClientConn) func() error {
		return func() error {
			rsp := new(pb.Response)
			if err := conn.Invoke(ctx, "/helloworld.Helloworld/Call", &pb.Request{Name: "John"}, rsp); err != nil {
				return err
			}
			if rsp.Msg != "Hello John" {
				return fmt.Errorf("got %q", rsp.Msg)
			}
			return nil
		}
	}
	gatewayCall := helloworldViaGateway(n)

	var mu sync.Mutex
	perOp := map[string]time.Duration{}
	run := func(name string, parallel bool, call func() error) {
		b.Run(name, func(b *testing.B) {
			defer testkit.CPUPerOp(b)()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := call(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := call(); err != nil {
						b.Fatal(err)
					}
				}
			}
			d := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(time.Second)/float64(d), "req/s")
			mu.Lock()
			perOp[name] = d
			mu.Unlock()
		})
	}
	run("direct", false, grpcCall(direct))
	run("proxy", false, grpcCall(viaProxy))
	run("gateway", false, gatewayCall)
	run("direct-parallel", true, grpcCall(direct))
	run("proxy-parallel", true, grpcCall(viaProxy))
	run("gateway-parallel", true, gatewayCall)

	names := make([]string, 0, len(perOp))
	for name := range perOp {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("\nhelloworld Helloworld.Call                req/s   vs direct\n")
	for _, name := range names {
		base := perOp["direct"]
		if len(name) > len("-parallel") && name[len(name)-len("-parallel"):] == "-parallel" {
			base = perOp["direct-parallel"]
		}
		d := perOp[name]
		if d == 0 || base == 0 {
			continue
		}
		fmt.Printf("  %-36s %8.0f   %.2fx the time\n", name, float64(time.Second)/float64(d), float64(d)/float64(base))
	}
}

// startHelloworld starts a node on a database in b.TempDir() and the
// helloworld service on it, both tracing or neither; both stop with b.
func startHelloworld(b *testing.B, log *slog.Logger, trace bool) (*Node, *service.Service) {
	n, err := Start(context.Background(), Config{Data: filepath.Join(b.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: log, Trace: trace})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	srv := service.New(service.Name("helloworld"), service.Proxy(n.ProxyAddr()), service.Logger(log), service.HandleSignal(false),
		service.Credentials("admin", "micro"), service.Tracing(trace))
	if err := pb.RegisterHelloworldHandler(srv.Server(), new(handler.Helloworld)); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop() })
	return n, srv
}

// helloworldViaGateway returns one Helloworld.Call through n's gateway,
// checking the answer.
func helloworldViaGateway(n *Node) func() error {
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + n.GatewayAddr() + "/helloworld/Helloworld/Call"
	body := []byte(`{"name":"John"}`)
	return func() error {
		rsp, err := httpc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		got, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || string(got) != `{"msg":"Hello John"}` {
			return fmt.Errorf("got %d %s", rsp.StatusCode, got)
		}
		return nil
	}
}

// BenchmarkGatewayTracing calls helloworld through the gateway of a node
// and service that do not trace (the baseline), then of a node and service
// that do, as micro server does by default: spans from the gateway, proxy,
// router and service, kept in the database by the trace block.
func BenchmarkGatewayTracing(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	prev := slog.Default()
	slog.SetDefault(quiet) // the handler logs every call
	defer slog.SetDefault(prev)
	for _, tc := range []struct {
		name  string
		trace bool
	}{{"off", false}, {"on", true}} {
		b.Run(tc.name, func(b *testing.B) {
			n, _ := startHelloworld(b, quiet, tc.trace)
			call := helloworldViaGateway(n)
			defer testkit.CPUPerOp(b)()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
