package client

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/server"
	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	pb "micro.dev/micro/proto/store"
)

// Echo is a service handler for the client to call.
type Echo struct{}

type Plain struct {
	Text string `json:"text"`
}

func (*Echo) Read(ctx context.Context, req *pb.ReadRequest, rsp *pb.ReadResponse) error {
	if req.Key == "missing" {
		return errors.NotFound("echo", "no %s", req.Key)
	}
	rsp.Records = []*pb.Record{{Key: req.Key}}
	return nil
}

func (*Echo) Shout(ctx context.Context, req *Plain, rsp *Plain) error {
	rsp.Text = strings.ToUpper(req.Text)
	return nil
}

func (*Echo) Spell(ctx context.Context, req *Plain, stream server.Stream) error {
	for _, r := range req.Text {
		if err := stream.Send(&Plain{Text: string(r)}); err != nil {
			return err
		}
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startEcho serves handlers (Echo when none) as service "echo" on
// loopback and returns its address.
func startEcho(t *testing.T, handlers ...any) string {
	t.Helper()
	if len(handlers) == 0 {
		handlers = []any{new(Echo)}
	}
	s := server.New("echo", quiet())
	for _, h := range handlers {
		if err := s.Handle(h); err != nil {
			t.Fatal(err)
		}
	}
	lis := testkit.Listen(t)
	go s.Serve(lis)
	t.Cleanup(func() { s.Stop(time.Second) })
	return lis.Addr().String()
}

// TestCall calls a service directly (WithAddress) with protobuf and with
// plain structs (JSON), and reads its errors as micro errors.
func TestCall(t *testing.T) {
	addr := startEcho(t)
	c, err := New(Options{Proxy: "127.0.0.1:1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	rsp := new(pb.ReadResponse)
	if err := c.Call(ctx, c.NewRequest("echo", "Echo.Read", &pb.ReadRequest{Key: "k"}), rsp, WithAddress(addr)); err != nil || rsp.Records[0].Key != "k" {
		t.Fatalf("proto call: %v %v", rsp, err)
	}
	var plain Plain
	if err := c.Call(ctx, c.NewRequest("echo", "Echo.Shout", &Plain{Text: "hi"}), &plain, WithAddress(addr)); err != nil || plain.Text != "HI" {
		t.Fatalf("plain call: %v %v", plain, err)
	}
	// A proto message may go as JSON too.
	rsp = new(pb.ReadResponse)
	req := c.NewRequest("echo", "Echo.Read", &pb.ReadRequest{Key: "j"}, WithContentType("application/json"))
	if err := c.Call(ctx, req, rsp, WithAddress(addr)); err != nil || rsp.Records[0].Key != "j" {
		t.Fatalf("json call of a proto endpoint: %v %v", rsp, err)
	}

	err = c.Call(ctx, c.NewRequest("echo", "Echo.Read", &pb.ReadRequest{Key: "missing"}), new(pb.ReadResponse), WithAddress(addr))
	if e, ok := err.(*errors.Error); !ok || e.Code != 404 || e.ID != "echo" || e.Detail != "no missing" {
		t.Fatalf("micro error: %#v", err)
	}

	// Through the proxy, which is not there: a clear 503.
	err = c.Call(ctx, c.NewRequest("echo", "Echo.Read", &pb.ReadRequest{}), new(pb.ReadResponse), WithRequestTimeout(5*time.Second))
	if e := errors.FromError(err, ""); e.Code != 503 || !strings.Contains(e.Detail, "connection refused") {
		t.Fatalf("no proxy: %v", err)
	}
	if !Refused(err) {
		t.Fatalf("Refused(%v) = false", err)
	}
}

func TestStream(t *testing.T) {
	addr := startEcho(t)
	c, err := New(Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Stream(context.Background(), c.NewRequest("echo", "Echo.Spell", &Plain{}), WithAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&Plain{Text: "abc"}); err != nil {
		t.Fatal(err)
	}
	st.CloseSend()
	var got []string
	for {
		var p Plain
		if err := st.Recv(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Text)
	}
	if strings.Join(got, "") != "abc" {
		t.Fatalf("stream: %v", got)
	}
}

// fakeAuth answers auth.Auth/Token calls made through a conn.
type fakeAuth struct {
	mu    sync.Mutex
	reqs  []*authpb.TokenRequest
	err   error
	now   func() time.Time
	count int
}

func (f *fakeAuth) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, args.(*authpb.TokenRequest))
	if f.err != nil {
		return f.err
	}
	f.count++
	now := f.now().Unix()
	reply.(*authpb.TokenResponse).Token = &authpb.Token{AccessToken: "tok" + string(rune('0'+f.count)), RefreshToken: "ref",
		Created: now, Expiry: now + 600}
	return nil
}

func (f *fakeAuth) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	panic("not used")
}

// TestTokenRefresh: a token is reused until the last quarter of its life
// (at most a minute before expiry), then refreshed with the refresh token.
func TestTokenRefresh(t *testing.T) {
	clock := testkit.NewClock()
	auth := &fakeAuth{now: clock.Now}
	ts := newTokenSource(auth, "svc", "secret", "micro", quiet())
	ts.now = clock.Now
	ctx := context.Background()

	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "tok1"}, {8 * time.Minute, "tok1"}, {time.Minute + time.Second, "tok2"}} {
		clock.Advance(step.advance)
		if tok, err := ts.Token(ctx); err != nil || tok != step.want {
			t.Fatalf("after %v: %q %v, want %q", step.advance, tok, err, step.want)
		}
	}
	if len(auth.reqs) != 2 || auth.reqs[0].Id != "svc" || auth.reqs[1].RefreshToken != "ref" {
		t.Fatalf("requests %v", auth.reqs)
	}
}

func TestTokenFallbacks(t *testing.T) {
	ctx := context.Background()
	// No auth service: anonymous, and asked again only after a while.
	auth := &fakeAuth{now: time.Now, err: status.Error(codes.Unimplemented, "unknown service auth.Auth")}
	ts := newTokenSource(auth, "svc", "secret", "micro", quiet())
	for range 3 {
		if tok, err := ts.Token(ctx); err != nil || tok != "" {
			t.Fatalf("no auth: %q %v", tok, err)
		}
	}
	if len(auth.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(auth.reqs))
	}

	// Refused credentials are an error, a credential JWT's too: it is never
	// sent as a bearer in place of the access token it failed to obtain.
	auth = &fakeAuth{now: time.Now, err: errors.Unauthorized("auth", "wrong secret")}
	if _, err := newTokenSource(auth, "svc", "secret", "micro", quiet()).Token(ctx); errors.Code(err) != 401 {
		t.Fatalf("bad secret: %v", err)
	}
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"exp":4102444800,"use":"credential"}`))
	jwt := "eyJhbGciOiJFZERTQSJ9." + claims + ".sig"
	for _, fail := range []error{errors.Unauthorized("auth", "wrong secret"), errors.InternalServerError("auth", "database is locked")} {
		auth = &fakeAuth{now: time.Now, err: fail}
		if tok, err := newTokenSource(auth, "svc", jwt, "micro", quiet()).Token(ctx); tok != "" || err == nil {
			t.Fatalf("JWT secret, exchange failing with %v: %q %v", fail, tok, err)
		}
	}
	// ...and exchanged like a password when the auth service answers.
	auth = &fakeAuth{now: time.Now}
	if tok, err := newTokenSource(auth, "svc", jwt, "micro", quiet()).Token(ctx); tok != "tok1" || err != nil || auth.reqs[0].Secret != jwt {
		t.Fatalf("JWT secret: %q %v", tok, err)
	}

	// No credentials: no token, no request.
	if tok, err := newTokenSource(auth, "", "", "micro", quiet()).Token(ctx); tok != "" || err != nil {
		t.Fatalf("anonymous: %q %v", tok, err)
	}
}

// watchedContext counts the contexts derived from it that are still
// registered for its cancellation: each one the client derives and never
// cancels stays registered (and held) until the caller's context ends.
type watchedContext struct {
	done    chan struct{} // never closed: the caller keeps its context
	mu      sync.Mutex
	pending int
}

func (w *watchedContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (w *watchedContext) Done() <-chan struct{}       { return w.done }
func (w *watchedContext) Err() error                  { return nil }
func (w *watchedContext) Value(any) any               { return nil }

func (w *watchedContext) AfterFunc(func()) func() bool {
	w.mu.Lock()
	w.pending++
	w.mu.Unlock()
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() {
			w.mu.Lock()
			w.pending--
			w.mu.Unlock()
			stopped = true
		})
		return stopped
	}
}

func (w *watchedContext) registered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// A closed stream releases everything it derived from the caller's
// context, with or without a request timeout.
func TestStreamReleasesCallerContext(t *testing.T) {
	addr := startEcho(t)
	c, err := New(Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, timeout := range []time.Duration{0, time.Minute} {
		ctx := &watchedContext{done: make(chan struct{})}
		st, err := c.Stream(ctx, c.NewRequest("echo", "Echo.Spell", &Plain{}), WithAddress(addr), WithRequestTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		if ctx.registered() == 0 {
			t.Fatalf("timeout %v: the stream's context does not follow the caller's", timeout)
		}
		st.Close()
		if n := ctx.registered(); n != 0 {
			t.Fatalf("timeout %v: %d contexts still hang on the caller's after Close", timeout, n)
		}
	}
}

func TestSplitMethod(t *testing.T) {
	for method, want := range map[string]string{
		"/helloworld.Helloworld/Call": "helloworld Helloworld.Call",
		"/go.micro.srv.foo.Foo/Bar":   "go.micro.srv.foo Foo.Bar",
		"/v1.foo.Foo/Bar":             "v1.foo Foo.Bar",
		"/Foo/Bar":                    "error",
		"/.Foo/Bar":                   "error",
		"/foo./Bar":                   "error",
		"/foo.Foo/":                   "error",
		"/foo.Foo/Bar/Baz":            "error",
		"":                            "error",
	} {
		s, e, err := SplitMethod(method)
		got := s + " " + e
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("SplitMethod(%q) = %q, want %q", method, got, want)
		}
		if err == nil && FullMethod(s, e) != method {
			t.Errorf("FullMethod(%q, %q) = %q, want %q back", s, e, FullMethod(s, e), method)
		}
	}
}
