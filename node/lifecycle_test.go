package node

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
)

// TestCloseEndsStreamsFirst: at shutdown every block ends its long-lived
// streams itself (a 503 saying it is shutting down) before the gRPC server
// drains, instead of the server cutting them off when its grace runs out.
func TestCloseEndsStreamsFirst(t *testing.T) {
	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(t, n)
	w.methods(n) // learns which endpoints stream
	token := w.login("micro", "admin", "micro")
	ctx := grpcmd.NewOutgoingContext(t.Context(), grpcmd.Pairs("authorization", "Bearer "+token))

	streams := map[string]string{
		"/store.Store/Watch":       `{"key":"a"}`,
		"/registry.Registry/Watch": `{}`,
		"/config.Config/Watch":     `{"path":"a"}`,
		"/events.Stream/Consume":   `{"topic":"t","auto_ack":true}`,
		"/broker.Broker/Subscribe": `{"topic":"t"}`,
	}
	ended := map[string]chan error{}
	for method, req := range streams {
		desc := w.streams[method]
		if desc == nil {
			t.Fatalf("%s does not stream", method)
		}
		cs, err := w.conn.NewStream(ctx, desc, method, grpc.CallContentSubtype(codec.JSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&codec.Frame{Data: []byte(req)}); err != nil {
			t.Fatal(err)
		}
		cs.CloseSend()
		ch := make(chan error, 1)
		ended[method] = ch
		go func() {
			for {
				if err := cs.RecvMsg(&codec.Frame{}); err != nil {
					ch <- err
					return
				}
			}
		}()
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for method, ch := range ended {
		err := <-ch
		if errors.Code(err) != 503 || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("%s ended with %v, want the block's 503 for shutting down", method, err)
		}
	}
}
