package node

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/service"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// Words answers protobuf, JSON and text.
type Words struct{}

func (Words) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

func (Words) Upper(ctx context.Context, req *string, rsp *string) error {
	*rsp = strings.ToUpper(*req)
	return nil
}

// TestCodecsThroughTheProxy: each of Micro's codecs reaches a service
// through the proxy and the router, which forward its frames untouched.
func TestCodecsThroughTheProxy(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := service.New(service.Name("words"), service.Proxy(n.ProxyAddr()), service.Logger(quiet), service.HandleSignal(false),
		service.Credentials("admin", "micro"))
	if err := srv.Handle(Words{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })

	c, err := client.New(client.Options{Proxy: n.ProxyAddr(), ID: "admin", Secret: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for _, ct := range []string{"application/protobuf", "application/json", "application/json-rpc", "application/proto-rpc"} {
		rsp := new(pb.Response)
		err := c.Call(ctx, c.NewRequest("words", "Words.Call", &pb.Request{Name: "Ada"}, client.WithContentType(ct)), rsp)
		if err != nil || rsp.Msg != "Hello Ada" {
			t.Errorf("%s through the proxy: %q %v", ct, rsp.Msg, err)
		}
	}
	var out string
	if err := c.Call(ctx, c.NewRequest("words", "Words.Upper", "shout", client.WithContentType("text/plain")), &out); err != nil || out != "SHOUT" {
		t.Errorf("text/plain through the proxy: %q %v", out, err)
	}
}
