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
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/router"
)

type leakKey struct{}

// blockDesc is a hosted one-method service: it answers "<client
// address>:<message>", sets a header, fails on "fail", waits for the
// call's end on "sleep", and refuses a context carrying the caller's
// values.
var blockDesc = grpc.ServiceDesc{
	ServiceName: "block.Block",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			var f codec.Frame
			if err := dec(&f); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				if ctx.Value(leakKey{}) != nil {
					return nil, errors.InternalServerError("block", "the caller's context leaked into the handler")
				}
				grpc.SetHeader(ctx, grpcmd.Pairs("x-block", "b"))
				switch data := string(req.(*codec.Frame).Data); data {
				case "fail":
					return nil, errors.Conflict("block", "clash")
				case "sleep":
					<-ctx.Done()
					return nil, ctx.Err()
				default:
					addr, _ := metadata.Get(ctx, metadata.ClientAddress)
					return &codec.Frame{Data: []byte(addr + ":" + data)}, nil
				}
			}
			return in(ctx, &f, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/block.Block/Call"}, h)
		},
	}},
}

// refuser lets every call through except those with "Bearer bad", and
// records the client addresses it was given.
type refuser struct {
	mu    sync.Mutex
	addrs []string
}

func (r *refuser) Authenticate(ctx context.Context, service, endpoint, addr string) (context.Context, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	if v, _ := metadata.Get(ctx, metadata.Authorization); v == "Bearer bad" {
		return nil, errors.Unauthorized("micro", "bad token")
	}
	return ctx, nil
}

// TestLocalMatchesTheWire makes the same calls over the in-process
// listener and through Local, and wants the same answers: replies,
// headers, trailers, micro errors, gRPC statuses, auth's view of the
// client, deadlines.
func TestLocalMatchesTheWire(t *testing.T) {
	be := &backend{}
	bs := grpc.NewServer(grpc.UnknownServiceHandler(be.handle))
	baddr := testkit.Serve(t, bs)

	auth := &refuser{}
	p := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: auth})
	p.RegisterService(&blockDesc, struct{}{})
	r := router.New(router.Config{Registry: oneService{addr: baddr}, Local: p.Methods})
	t.Cleanup(r.Close)
	p.SetRouter(r)
	go p.Serve(testkit.Listen(t))
	t.Cleanup(func() { p.Stop(time.Second) })
	wire, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wire.Close() })
	local := p.Local(wire)
	testkit.Eventually(t, 5*time.Second, "proxy serving", func() bool { return p.unary.Load() != nil })

	type answer struct {
		data          string
		header, trail string
		status        string
	}
	call := func(conn grpc.ClientConnInterface, ctx context.Context, method, sub, msg string) answer {
		var out codec.Frame
		var hdr, trl grpcmd.MD
		err := conn.Invoke(ctx, method, &codec.Frame{Data: []byte(msg)}, &out, grpc.CallContentSubtype(sub), grpc.Header(&hdr), grpc.Trailer(&trl))
		a := answer{data: string(out.Data), header: strings.Join(append(hdr.Get("x-block"), hdr.Get("x-header")...), ","),
			trail: strings.Join(trl.Get("x-trailer"), ",")}
		if err != nil {
			st := status.Convert(err)
			a.status = st.Code().String() + " " + st.Message()
		}
		return a
	}
	bg := context.WithValue(context.Background(), leakKey{}, "secret")
	md := func(kv ...string) context.Context { return grpcmd.AppendToOutgoingContext(bg, kv...) }
	short, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	cases := []struct {
		name, method, sub, msg string
		ctx                    context.Context
		codeOnly               bool // the wire's message varies with timing
	}{
		{"hosted", "/block.Block/Call", codec.JSON, `{"a":1}`, md(metadata.ClientAddress, "203.0.113.9"), false},
		{"hosted proto", "/block.Block/Call", codec.Proto, "x", bg, false},
		{"hosted error", "/block.Block/Call", codec.JSON, "fail", bg, false},
		{"hosted deadline", "/block.Block/Call", codec.Bytes, "sleep", short, true},
		{"hosted unknown method", "/block.Block/Nope", codec.JSON, "{}", bg, false},
		{"refused", "/block.Block/Call", codec.JSON, "{}", md("authorization", "Bearer bad"), false},
		{"bad metadata", "/block.Block/Call", codec.JSON, "{}", md("x-bad", "caf\xc3\xa9"), false},
		{"unknown codec", "/block.Block/Call", "nosuch", "{}", bg, false},
		{"forwarded", "/echo.Echo/Call", codec.JSON, `{"b":2}`, md("x-custom", "c"), false},
		{"forwarded error", "/echo.Echo/Call", codec.Bytes, "fail", bg, false},
		{"forwarded unknown endpoint", "/echo.Echo/Nope", codec.Bytes, "x", bg, false},
		{"unknown service", "/nosuch.Foo/Bar", codec.Bytes, "x", bg, false},
		{"health", "/grpc.health.v1.Health/Check", codec.Proto, "", bg, false},
	}
	for _, c := range cases {
		want := call(wire, c.ctx, c.method, c.sub, c.msg)
		got := call(local, c.ctx, c.method, c.sub, c.msg)
		if c.codeOnly {
			want.status, _, _ = strings.Cut(want.status, " ")
			got.status, _, _ = strings.Cut(got.status, " ")
		}
		if got != want {
			t.Errorf("%s: Local answered %+v, the wire %+v", c.name, got, want)
		}
	}
	if got := call(local, md(metadata.ClientAddress, "203.0.113.9"), "/block.Block/Call", codec.JSON, "{}"); got.data != "203.0.113.9:{}" {
		t.Errorf("the in-process caller's client address: got %+v", got)
	}
	auth.mu.Lock()
	defer auth.mu.Unlock()
	if !strings.Contains(strings.Join(auth.addrs, " "), "203.0.113.9") {
		t.Errorf("auth never saw the caller's address: %v", auth.addrs)
	}
}
