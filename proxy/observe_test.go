package proxy

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	microauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/router"
)

// recordingObserver keeps a copy of each call as it started and ended.
type recordingObserver struct {
	mu              sync.Mutex
	started, ended  []Call
	inFlightStreams int
}

func (o *recordingObserver) CallStarted(c *Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started = append(o.started, *c)
	if c.Stream {
		o.inFlightStreams++
	}
}

func (o *recordingObserver) CallEnded(c *Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = append(o.ended, *c)
	if c.Stream {
		o.inFlightStreams--
	}
}

func (o *recordingObserver) streams() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inFlightStreams
}

// endedCall returns the last ended call to service/endpoint.
func (o *recordingObserver) endedCall(t *testing.T, service, endpoint string) Call {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.ended) - 1; i >= 0; i-- {
		if c := o.ended[i]; c.Service == service && c.Endpoint == endpoint {
			return c
		}
	}
	t.Fatalf("no call to %s %s ended; ended: %+v", service, endpoint, o.ended)
	return Call{}
}

// accountAuth lets every call through as account "alice" of namespace
// "team", except calls to service "deny".
type accountAuth struct{}

func (accountAuth) Authenticate(ctx context.Context, service, endpoint, addr string) (context.Context, error) {
	if service == "deny" {
		return nil, errors.Unauthorized(service, "Unauthorized call made to %s:%s", service, endpoint)
	}
	md, _ := grpcmd.FromIncomingContext(ctx)
	md = md.Copy()
	md.Set("micro-namespace", "team")
	ctx = grpcmd.NewIncomingContext(ctx, md)
	return microauth.ContextWithAccount(ctx, &microauth.Account{ID: "alice", Issuer: "team"}), nil
}

// TestObserver: every call is reported once started and once ended, with
// its names, shape, caller and outcome; only calls that reached a method
// the server knows are Known; each is logged without the token.
func TestObserver(t *testing.T) {
	b := &backend{}
	bs := grpc.NewServer(grpc.UnknownServiceHandler(b.handle))
	baddr := testkit.Serve(t, bs)

	obs := &recordingObserver{}
	logs := &testkit.LogBuffer{}
	p := New(Config{
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:     accountAuth{},
		Observer: obs,
	})
	r := router.New(router.Config{Registry: oneService{addr: baddr}, Local: p.Methods})
	t.Cleanup(r.Close)
	p.SetRouter(r)
	plis := testkit.Listen(t)
	go p.Serve(plis)
	t.Cleanup(func() { p.Stop(time.Second) })
	conn := testkit.Dial(t, plis.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = grpcmd.AppendToOutgoingContext(ctx, "authorization", "Bearer secret-token")
	call := func(method, msg string) error {
		return conn.Invoke(ctx, method, &codec.Frame{Data: []byte(msg)}, new(codec.Frame), grpc.CallContentSubtype(codec.Bytes))
	}

	// A hosted unary method (health needs no auth: no account).
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if c := obs.endedCall(t, "grpc.health.v1", "Health.Check"); !c.Known || c.Stream || c.Code != codes.OK || c.Account != "" || c.Duration <= 0 {
		t.Fatalf("health check: %+v", c)
	}

	// A hosted stream is in flight until it ends.
	wctx, wcancel := context.WithCancel(ctx)
	watch, err := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	if n := obs.streams(); n != 1 {
		t.Fatalf("streams in flight during Watch: %d", n)
	}
	wcancel()
	deadline := time.Now().Add(5 * time.Second)
	for obs.streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Watch still in flight after its cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := obs.endedCall(t, "grpc.health.v1", "Health.Watch"); !c.Known || !c.Stream || c.Code != codes.Canceled {
		t.Fatalf("watch: %+v", c)
	}

	// A forwarded unary call: known once routed, with auth's namespace
	// and account; a service's error keeps its code.
	if err := call("/echo.Echo/Call", "hi"); err != nil {
		t.Fatal(err)
	}
	c := obs.endedCall(t, "echo", "Echo.Call")
	if !c.Known || c.Stream || c.Code != codes.OK || c.Namespace != "team" || c.Account != "alice" {
		t.Fatalf("forwarded call: %+v", c)
	}
	call("/echo.Echo/Call", "fail")
	if c := obs.endedCall(t, "echo", "Echo.Call"); c.Code != codes.AlreadyExists || c.Err == nil {
		t.Fatalf("failed forwarded call: %+v", c)
	}

	// A forwarded stream is a stream.
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/echo.Echo/Chat", grpc.CallContentSubtype(codec.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	st.SendMsg(&codec.Frame{Data: []byte("x")})
	if err := st.RecvMsg(new(codec.Frame)); err != nil {
		t.Fatal(err)
	}
	if n := obs.streams(); n != 1 {
		t.Fatalf("streams in flight during Chat: %d", n)
	}
	st.CloseSend()
	st.RecvMsg(new(codec.Frame))

	// Names the server does not know are reported, but not as Known.
	call("/nosuch.Foo/Bar", "x")
	call("/echo.Echo/Nope", "x")
	call("/deny.Deny/Call", "x")
	call("/grpc.health.v1.Health/Nope", "x")
	for _, u := range []struct {
		service, endpoint string
		code              codes.Code
	}{
		{"nosuch", "Foo.Bar", codes.Internal},
		{"echo", "Echo.Nope", codes.NotFound},
		{"deny", "Deny.Call", codes.Unauthenticated},
		{"grpc.health.v1", "Health.Nope", codes.Unimplemented},
	} {
		if c := obs.endedCall(t, u.service, u.endpoint); c.Known || c.Stream || c.Code != u.code {
			t.Errorf("%s %s: %+v", u.service, u.endpoint, c)
		}
	}

	// Every call started once before it ended.
	obs.mu.Lock()
	if len(obs.started) != len(obs.ended) || len(obs.ended) != 9 {
		t.Errorf("started %d, ended %d, want 9 each", len(obs.started), len(obs.ended))
	}
	obs.mu.Unlock()

	// A service failing with a 500: the server's side is at fault.
	call("/echo.Echo/Call", "crash")

	// Logs: one line per call, at debug, warn for the server's faults;
	// the caller's mistakes (a missing service or method, a 4xx) at
	// debug, even "service not found", a 500 in Micro; never the token.
	var echoLogged, warned bool
	var mistakesWarned []string
	for _, l := range logs.Records(t) {
		if strings.Contains(l["msg"].(string), "proxy call") {
			if l["service"] == "echo" && l["endpoint"] == "Echo.Call" && l["code"] == "OK" &&
				l["namespace"] == "team" && l["account"] == "alice" && l["level"] == "DEBUG" && l["duration"] != nil {
				echoLogged = true
			}
			if l["service"] == "echo" && l["level"] == "WARN" && l["status"] == float64(500) && l["detail"] == "boom" {
				warned = true
			}
			if l["level"] != "DEBUG" && (l["service"] != "echo" || l["endpoint"] != "Echo.Call") {
				mistakesWarned = append(mistakesWarned, l["service"].(string)+" "+l["endpoint"].(string))
			}
		}
	}
	leaked := strings.Contains(logs.String(), "secret-token")
	if !echoLogged || !warned || leaked || len(mistakesWarned) > 0 {
		t.Fatalf("logs (echo logged %v, 500 warned %v, token leaked %v, caller mistakes above debug %v):\n%s",
			echoLogged, warned, leaked, mistakesWarned, logs.String())
	}
}
