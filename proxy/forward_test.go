package proxy

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/router"
)

// oneService is a registry holding one service, "echo", at addr.
type oneService struct{ addr string }

func (o oneService) Lookup(ctx context.Context, domain, name string) ([]*regpb.Service, time.Time, error) {
	if name != "echo" {
		return nil, time.Time{}, nil
	}
	return []*regpb.Service{{Name: "echo", Nodes: []*regpb.Node{{Id: "echo-1", Address: o.addr}},
		Endpoints: []*regpb.Endpoint{{Name: "Echo.Call"}, {Name: "Echo.Chat", Metadata: map[string]string{"stream": "true"}}}}}, time.Time{}, nil
}

func (o oneService) List(ctx context.Context, domain string) ([]*regpb.Service, error) {
	return nil, nil
}
func (o oneService) Subscribe(fn func(*regpb.Result)) func() { return func() {} }

// backend answers every message with "<content-type>:<message>", sets a
// header and a trailer, and records the metadata it got. A message "sleep"
// waits for the call's end.
type backend struct {
	mu sync.Mutex
	md grpcmd.MD
}

func (b *backend) handle(_ any, ss grpc.ServerStream) error {
	md, _ := grpcmd.FromIncomingContext(ss.Context())
	b.mu.Lock()
	b.md = md
	b.mu.Unlock()
	ss.SetHeader(grpcmd.Pairs("x-header", "h"))
	ss.SetTrailer(grpcmd.Pairs("x-trailer", "t"))
	for {
		var f codec.Frame
		if err := ss.RecvMsg(&f); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if string(f.Data) == "sleep" {
			<-ss.Context().Done()
			return ss.Context().Err()
		}
		if string(f.Data) == "fail" {
			return errors.Conflict("echo", "clash")
		}
		if string(f.Data) == "crash" {
			return errors.InternalServerError("echo", "boom")
		}
		reply := strings.Join(md.Get("content-type"), ",") + ":" + string(f.Data)
		if err := ss.SendMsg(&codec.Frame{Data: []byte(reply)}); err != nil {
			return err
		}
	}
}

func (b *backend) metadata() grpcmd.MD {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.md
}

// setup runs a backend, and a proxy routing to it, and returns a client
// connection to the proxy.
func setup(t *testing.T) (*backend, *grpc.ClientConn) {
	t.Helper()
	b := &backend{}
	bs := grpc.NewServer(grpc.UnknownServiceHandler(b.handle), grpc.MaxRecvMsgSize(codec.MaxMessageSize), grpc.MaxSendMsgSize(codec.MaxMessageSize))
	baddr := testkit.Serve(t, bs)

	p := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := router.New(router.Config{Registry: oneService{addr: baddr}, Local: p.Methods})
	t.Cleanup(r.Close)
	p.SetRouter(r)
	plis := testkit.Listen(t)
	go p.Serve(plis)
	t.Cleanup(func() { p.Stop(time.Second) })
	conn := testkit.Dial(t, plis.Addr().String())
	return b, conn
}

// TestForwardUnary: frames pass untouched whatever their encoding, with
// the caller's metadata, and the service's headers and trailers come back.
func TestForwardUnary(t *testing.T) {
	b, conn := setup(t)
	for _, sub := range []string{"", codec.Proto, codec.JSON, codec.Bytes} {
		ctx := grpcmd.AppendToOutgoingContext(context.Background(),
			"authorization", "Bearer tok", "micro-namespace", "micro", "x-custom", "c")
		var hdr, trl grpcmd.MD
		opts := []grpc.CallOption{grpc.Header(&hdr), grpc.Trailer(&trl)}
		want := "application/grpc:payload"
		if sub != "" {
			opts = append(opts, grpc.CallContentSubtype(sub))
			want = "application/grpc+" + sub + ":payload"
		}
		var out codec.Frame
		if err := conn.Invoke(ctx, "/echo.Echo/Call", &codec.Frame{Data: []byte("payload")}, &out, opts...); err != nil {
			t.Fatalf("%q: %v", sub, err)
		}
		if string(out.Data) != want {
			t.Fatalf("%q: got %q, want %q", sub, out.Data, want)
		}
		if hdr.Get("x-header")[0] != "h" || trl.Get("x-trailer")[0] != "t" {
			t.Fatalf("%q: header %v trailer %v", sub, hdr, trl)
		}
		md := b.metadata()
		if md.Get("authorization")[0] != "Bearer tok" || md.Get("micro-namespace")[0] != "micro" || md.Get("x-custom")[0] != "c" {
			t.Fatalf("%q: the service got %v", sub, md)
		}
	}

	// The service's errors come back as they are.
	err := conn.Invoke(context.Background(), "/echo.Echo/Call", &codec.Frame{Data: []byte("fail")}, new(codec.Frame))
	if e := errors.FromError(err, ""); e.Code != 409 || e.ID != "echo" || e.Detail != "clash" {
		t.Fatalf("service error: %v", err)
	}
}

func TestForwardStream(t *testing.T) {
	_, conn := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/echo.Echo/Chat", grpc.CallContentSubtype(codec.JSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{`{"n":1}`, `{"n":2}`} {
		if err := st.SendMsg(&codec.Frame{Data: []byte(msg)}); err != nil {
			t.Fatal(err)
		}
		var out codec.Frame
		if err := st.RecvMsg(&out); err != nil || string(out.Data) != "application/grpc+json:"+msg {
			t.Fatalf("echo of %s: %q %v", msg, out.Data, err)
		}
	}
	st.CloseSend()
	if err := st.RecvMsg(new(codec.Frame)); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if st.Trailer().Get("x-trailer")[0] != "t" {
		t.Fatalf("trailer %v", st.Trailer())
	}
}

func TestForwardErrors(t *testing.T) {
	_, conn := setup(t)
	ctx := context.Background()
	call := func(method string) error {
		return conn.Invoke(ctx, method, &codec.Frame{Data: []byte("x")}, new(codec.Frame), grpc.CallContentSubtype(codec.Bytes))
	}
	if e := errors.FromError(call("/nosuch.Foo/Bar"), ""); e.Code != 500 || e.Detail != "service not found: nosuch" {
		t.Fatalf("unknown service: %v", e)
	}
	if e := errors.FromError(call("/echo.Echo/Nope"), ""); e.Code != 404 || !strings.Contains(e.Detail, "its endpoints are Echo.Call, Echo.Chat") {
		t.Fatalf("unknown endpoint: %v", e)
	}
	if e := errors.FromError(call("/Foo/Bar"), ""); e.Code != 400 || !strings.Contains(e.Detail, "service name is blank") {
		t.Fatalf("blank service: %v", e)
	}

	// The timeout metadata (nanoseconds) bounds the call.
	tctx := grpcmd.AppendToOutgoingContext(ctx, "timeout", "100000000")
	start := time.Now()
	err := conn.Invoke(tctx, "/echo.Echo/Call", &codec.Frame{Data: []byte("sleep")}, new(codec.Frame), grpc.CallContentSubtype(codec.Bytes))
	if e := errors.FromError(err, ""); e.Code != 408 || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(start))
	}
}

// TestUnknownEndpointOfABlock: a method a hosted block lacks is answered
// as for any service, naming the endpoint and listing those it has (as the
// gateway does), not with gRPC's bare "unknown method".
func TestUnknownEndpointOfABlock(t *testing.T) {
	p := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p.Server().RegisterService(&testkit.EchoService, struct{}{})
	r := router.New(router.Config{Local: p.Methods})
	t.Cleanup(r.Close)
	p.SetRouter(r)
	lis := testkit.Listen(t)
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	conn := testkit.Dial(t, lis.Addr().String())
	call := func(method string) error {
		return conn.Invoke(context.Background(), method, &codec.Frame{Data: []byte("{}")}, new(codec.Frame), grpc.CallContentSubtype(codec.JSON))
	}
	if err := call("/echo.Echo/Call"); err != nil {
		t.Fatalf("known endpoint: %v", err)
	}
	want := "service echo has no endpoint Echo.Nope; its endpoints are Echo.Call"
	if e := errors.FromError(call("/echo.Echo/Nope"), ""); e.Code != 404 || e.Detail != want {
		t.Fatalf("unknown method of a block: %v, want 404 %q", e, want)
	}
	// Health and reflection are not blocks: gRPC's own answer stays.
	if st, _ := status.FromError(call("/grpc.health.v1.Health/Nope")); st.Code() != codes.Unimplemented {
		t.Fatalf("unknown method of health: %v", st)
	}
}

// TestForwardLarge: a message near the size limit crosses the proxy whole
// both ways, unary and streamed, over the router's connection with its
// fixed flow-control windows (router/pool.go), smaller than the message.
func TestForwardLarge(t *testing.T) {
	_, conn := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	payload := strings.Repeat("x", codec.MaxMessageSize-1024)
	want := "application/grpc+bytes:" + payload
	opts := []grpc.CallOption{grpc.CallContentSubtype(codec.Bytes), grpc.MaxCallRecvMsgSize(codec.MaxMessageSize), grpc.MaxCallSendMsgSize(codec.MaxMessageSize)}
	var out codec.Frame
	if err := conn.Invoke(ctx, "/echo.Echo/Call", &codec.Frame{Data: []byte(payload)}, &out, opts...); err != nil {
		t.Fatal(err)
	}
	if string(out.Data) != want {
		t.Fatalf("unary: %d bytes back, want %d", len(out.Data), len(want))
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/echo.Echo/Chat", opts...)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.SendMsg(&codec.Frame{Data: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
		var f codec.Frame
		if err := st.RecvMsg(&f); err != nil || string(f.Data) != want {
			t.Fatalf("stream: %d bytes back (%v), want %d", len(f.Data), err, len(want))
		}
	}
	st.CloseSend()
	if err := st.RecvMsg(new(codec.Frame)); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}
