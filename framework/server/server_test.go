package server

import (
	"context"
	stderrors "errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
)

// Greeting is a plain Go request, to be called with JSON.
type Greeting struct {
	Name    string   `json:"name"`
	Times   int      `json:"times,omitempty"`
	Tags    []string `json:"tags"`
	Inner   *Inner   `json:"inner"`
	Skipped string   `json:"-"`
	NoTag   bool
	private int
}

type Inner struct {
	Deep map[string]int `json:"deep"`
}

type Reply struct {
	Msg string `json:"msg"`
}

// Greeter has one endpoint of each shape, and methods that are not
// endpoints.
type Greeter struct{}

func (g *Greeter) Hello(ctx context.Context, req *Greeting, rsp *Reply) error {
	if req.Name == "panic" {
		panic("boom")
	}
	if req.Name == "fail" {
		return stderrors.New("plain failure")
	}
	if req.Name == "forbidden" {
		return errors.Forbidden("greeter", "not you")
	}
	greeting := "Hello"
	if s, ok := metadata.Get(ctx, "x-greeting"); ok {
		greeting = s
	}
	rsp.Msg = greeting + " " + req.Name
	return nil
}

// Read is a proto endpoint: the key comes back as the value.
func (g *Greeter) Read(ctx context.Context, req *pb.ReadRequest, rsp *pb.ReadResponse) error {
	rsp.Records = []*pb.Record{{Key: req.Key, Value: []byte(req.Key)}}
	return nil
}

// Count sends req.Key's length many replies.
func (g *Greeter) Count(ctx context.Context, req *pb.ReadRequest, stream Stream) error {
	for i := range len(req.Key) {
		if err := stream.Send(&pb.ReadResponse{Records: []*pb.Record{{Key: string(req.Key[i])}}}); err != nil {
			return err
		}
	}
	return nil
}

// Echo answers each message with itself.
func (g *Greeter) Echo(ctx context.Context, stream Stream) error {
	for {
		var req pb.ReadRequest
		if err := stream.Recv(&req); err != nil {
			return err
		}
		if err := stream.Send(&pb.ReadResponse{Records: []*pb.Record{{Key: req.Key}}}); err != nil {
			return err
		}
	}
}

func (g *Greeter) NotAnEndpoint(x int) error                                  { return nil }
func (g *Greeter) AlsoNot(ctx context.Context, req *Greeting) (*Reply, error) { return nil, nil }
func (g *Greeter) helper()                                                    {}

func serve(t *testing.T, h any, opts ...HandlerOption) *grpc.ClientConn {
	t.Helper()
	s := New("greeter", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Handle(h, opts...); err != nil {
		t.Fatal(err)
	}
	lis := testkit.Listen(t)
	go s.Serve(lis)
	t.Cleanup(func() { s.Stop(time.Second) })
	conn := testkit.Dial(t, lis.Addr().String())
	return conn
}

func callJSON(t *testing.T, conn *grpc.ClientConn, method, body string, md ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = grpcmd.AppendToOutgoingContext(ctx, md...)
	var out codec.Frame
	err := conn.Invoke(ctx, method, &codec.Frame{Data: []byte(body)}, &out, grpc.CallContentSubtype(codec.JSON))
	return string(out.Data), err
}

func wantCode(t *testing.T, err error, code int32, detail string) {
	t.Helper()
	e := errors.FromError(err, "")
	if e == nil || e.Code != code || !strings.Contains(e.Detail, detail) {
		t.Fatalf("got %v, want code %d with %q", err, code, detail)
	}
}

func TestEndpoints(t *testing.T) {
	s := New("greeter", nil)
	if err := s.Handle(new(Greeter), EndpointMetadata("Greeter.Hello", map[string]string{"description": "says hello"}),
		StreamTypes("Echo", new(pb.ReadRequest), new(pb.ReadResponse))); err != nil {
		t.Fatal(err)
	}
	eps := s.Endpoints()
	var names []string
	for _, ep := range eps {
		names = append(names, ep.Name)
	}
	if got := strings.Join(names, ","); got != "Greeter.Count,Greeter.Echo,Greeter.Hello,Greeter.Read" {
		t.Fatalf("endpoints %s", got)
	}
	count, echo, hello, read := eps[0], eps[1], eps[2], eps[3]
	if count.Metadata["stream"] != "true" || count.Metadata["client_stream"] != "" || count.Request.Name != "ReadRequest" || count.Response != nil {
		t.Fatalf("server stream: %v", count)
	}
	if echo.Metadata["client_stream"] != "true" || echo.Response.GetName() != "ReadResponse" {
		t.Fatalf("bidi stream with StreamTypes: %v", echo)
	}
	if hello.Metadata["description"] != "says hello" || hello.Metadata["stream"] != "" {
		t.Fatalf("hello metadata: %v", hello.Metadata)
	}
	// Plain structs: json names, "-" and unexported fields skipped, an
	// untagged field under its Go name, nested types described.
	var fields []string
	for _, v := range hello.Request.Values {
		fields = append(fields, v.Name+":"+v.Type)
	}
	if got := strings.Join(fields, " "); got != "name:string times:int tags:[]string inner:Inner NoTag:bool" {
		t.Fatalf("request fields %s", got)
	}
	if deep := hello.Request.Values[3].Values[0]; deep.Name != "deep" || deep.Type != "map[string]int" {
		t.Fatalf("nested field %v", deep)
	}
	// Proto messages: proto field names and types.
	if f := read.Request.Values; f[0].Name != "key" || f[0].Type != "string" || f[1].Name != "options" || len(f[1].Values) == 0 {
		t.Fatalf("proto request %v", read.Request)
	}
	if f := read.Response.Values[0]; f.Type != "[]Record" || f.Values[1].Name != "value" || f.Values[1].Type != "[]byte" {
		t.Fatalf("proto response %v", read.Response)
	}
}

func TestHandleErrors(t *testing.T) {
	s := New("x", nil)
	type Empty struct{}
	if err := s.Handle(new(Empty)); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Fatalf("handler without endpoints: %v", err)
	}
	if err := s.Handle(nil); err == nil {
		t.Fatal("nil handler accepted")
	}
	if err := s.Handle(new(Greeter)); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(new(Greeter)); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate handler: %v", err)
	}
}

func TestCalls(t *testing.T) {
	conn := serve(t, new(Greeter))

	// JSON into a plain struct, metadata from the caller.
	out, err := callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"John"}`, "x-greeting", "Hi")
	if err != nil || out != `{"msg":"Hi John"}` {
		t.Fatalf("hello: %s %v", out, err)
	}
	// Protobuf into a proto message, and JSON into the same.
	ctx := context.Background()
	rsp := new(pb.ReadResponse)
	if err := conn.Invoke(ctx, "/greeter.Greeter/Read", &pb.ReadRequest{Key: "k"}, rsp); err != nil || rsp.Records[0].Key != "k" {
		t.Fatalf("proto read: %v %v", rsp, err)
	}
	out, err = callJSON(t, conn, "/greeter.Greeter/Read", `{"key":"j"}`)
	if err != nil || !strings.Contains(out, `"key":"j","value":"ag=="`) {
		t.Fatalf("json read: %s %v", out, err)
	}

	// Bad input is the caller's fault: 400, and the server goes on.
	_, err = callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":5}`)
	wantCode(t, err, 400, "invalid request for Greeter.Hello")
	_, err = callJSON(t, conn, "/greeter.Greeter/Read", `{"key":`)
	wantCode(t, err, 400, "invalid request")
	raw, _ := proto.Marshal(&pb.ReadRequest{Key: "x"})
	err = conn.Invoke(ctx, "/greeter.Greeter/Hello", &codec.Frame{Data: raw}, new(codec.Frame))
	wantCode(t, err, 400, "takes JSON")

	// Handler errors: micro errors as they are, others a 500 of the service.
	_, err = callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"forbidden"}`)
	wantCode(t, err, 403, "not you")
	_, err = callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"fail"}`)
	wantCode(t, err, 500, "plain failure")
	if e := errors.FromError(err, ""); e.ID != "greeter" {
		t.Fatalf("error id %q, want the service's", e.ID)
	}

	// A panic is a 500; the next call works.
	_, err = callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"panic"}`)
	wantCode(t, err, 500, "panic recovered")
	if out, err := callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"again"}`); err != nil || out != `{"msg":"Hello again"}` {
		t.Fatalf("after a panic: %s %v", out, err)
	}

	// Unknown endpoints are named, with the ones that exist.
	_, err = callJSON(t, conn, "/greeter.Greeter/Nope", `{}`)
	wantCode(t, err, 404, "has no endpoint Greeter.Nope; its endpoints are Greeter.Count, Greeter.Echo, Greeter.Hello, Greeter.Read")
	_, err = callJSON(t, conn, "/other.Greeter/Hello", `{}`)
	wantCode(t, err, 404, "this is service greeter, not other")
}

func TestStreams(t *testing.T) {
	conn := serve(t, new(Greeter))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Server stream, JSON.
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/greeter.Greeter/Count", grpc.CallContentSubtype(codec.JSON))
	if err != nil {
		t.Fatal(err)
	}
	st.SendMsg(&codec.Frame{Data: []byte(`{"key":"abc"}`)})
	st.CloseSend()
	var got []string
	for {
		var f codec.Frame
		if err := st.RecvMsg(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(f.Data))
	}
	if len(got) != 3 || !strings.Contains(got[2], `"key":"c"`) {
		t.Fatalf("server stream: %v", got)
	}

	// Bidirectional, protobuf: each message echoed, the end of input ends it.
	bidi, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/greeter.Greeter/Echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x", "y"} {
		if err := bidi.SendMsg(&pb.ReadRequest{Key: k}); err != nil {
			t.Fatal(err)
		}
		rsp := new(pb.ReadResponse)
		if err := bidi.RecvMsg(rsp); err != nil || rsp.Records[0].Key != k {
			t.Fatalf("echo %s: %v %v", k, rsp, err)
		}
	}
	bidi.CloseSend()
	if err := bidi.RecvMsg(new(pb.ReadResponse)); err != io.EOF {
		t.Fatalf("end of echo: %v", err)
	}

	// A server stream whose request never comes is a 400.
	st, _ = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/greeter.Greeter/Count")
	st.CloseSend()
	wantCode(t, st.RecvMsg(new(pb.ReadResponse)), 400, "ended before its request")
}

func TestContentSubtype(t *testing.T) {
	for ct, want := range map[string]string{
		"application/grpc":             "proto",
		"application/grpc+proto":       "proto",
		"application/grpc+json":        "json",
		"application/grpc+json; x=1":   "json",
		"application/grpc;charset=x":   "proto",
		"application/grpc+bytes":       "bytes",
		"APPLICATION/GRPC+JSON":        "json",
		"text/plain; definitely-not=1": "proto",
	} {
		if got := contentSubtype(ct); got != want {
			t.Errorf("contentSubtype(%q) = %q, want %q", ct, got, want)
		}
	}
}

// TestStreamsOutnumberTheWorkers: calls run on a pool of goroutines, yet
// more open streams than the pool has are all served at once (past the
// pool, a call gets a goroutine of its own).
func TestStreamsOutnumberTheWorkers(t *testing.T) {
	conn := serve(t, new(Greeter))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := int(streamWorkers()) + 4
	for i := range n {
		// Each Echo stays open, its handler waiting for the next message.
		echo, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/greeter.Greeter/Echo")
		if err == nil {
			err = echo.SendMsg(&pb.ReadRequest{Key: "k"})
		}
		if err == nil {
			err = echo.RecvMsg(new(pb.ReadResponse))
		}
		if err != nil {
			t.Fatalf("stream %d of %d, %d workers: %v", i+1, n, streamWorkers(), err)
		}
	}
}
