package bench

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/testdata/helloworld/handler"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// BenchmarkHelloworld calls helloworld's Helloworld.Call directly over
// gRPC (the baseline), through the node's proxy over gRPC and through its
// gateway over HTTP with JSON; one caller, then 16 at once.
func BenchmarkHelloworld(b *testing.B) {
	prev := slog.Default()
	slog.SetDefault(quiet()) // the handler logs every call
	defer slog.SetDefault(prev)

	n := startNode(b)
	srv := service.New(service.Name("helloworld"), service.Proxy(n.ProxyAddr()), service.Logger(quiet()),
		service.HandleSignal(false), service.Credentials("admin", "micro"), service.Tracing(*trace))
	if err := pb.RegisterHelloworldHandler(srv.Server(), new(handler.Helloworld)); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop() })

	direct, viaProxy := testkit.Dial(b, srv.Address()), testkit.Dial(b, n.ProxyAddr())
	grpcCall := func(conn *grpc.ClientConn) func() error {
		return func() error {
			rsp := new(pb.Response)
			if err := conn.Invoke(context.Background(), "/helloworld.Helloworld/Call", &pb.Request{Name: "John"}, rsp); err != nil {
				return err
			}
			if rsp.Msg != "Hello John" {
				return fmt.Errorf("got %q", rsp.Msg)
			}
			return nil
		}
	}
	hc := httpClient()
	url := "http://" + n.GatewayAddr() + "/helloworld/Helloworld/Call"
	gatewayCall := func() error {
		got, err := post(hc, url, "", `{"name":"John"}`)
		if err != nil {
			return err
		}
		if string(got) != `{"msg":"Hello John"}` {
			return fmt.Errorf("got %s", got)
		}
		return nil
	}
	for _, many := range []bool{false, true} {
		suffix := "-1"
		if many {
			suffix = fmt.Sprintf("-%d", callers)
		}
		b.Run("direct"+suffix, func(b *testing.B) { run(b, many, grpcCall(direct)) })
		b.Run("proxy"+suffix, func(b *testing.B) { run(b, many, grpcCall(viaProxy)) })
		b.Run("gateway"+suffix, func(b *testing.B) { run(b, many, gatewayCall) })
	}
}
