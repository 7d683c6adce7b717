package proxy

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/clientaddr"
	"micro.dev/micro/internal/testkit"
)

// fakeAuth records what it is asked and refuses calls to service "deny".
type fakeAuth struct {
	mu    sync.Mutex
	calls []string // service endpoint clientAddr
}

func (f *fakeAuth) Authenticate(ctx context.Context, service, endpoint, addr string) (context.Context, error) {
	f.mu.Lock()
	f.calls = append(f.calls, service+" "+endpoint+" "+addr)
	f.mu.Unlock()
	if service == "deny" {
		return nil, errors.Unauthorized(service, "Unauthorized call made to %s:%s", service, endpoint)
	}
	return ctx, nil
}

func (f *fakeAuth) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func TestAuthRunsFirst(t *testing.T) {
	fa := &fakeAuth{}
	p := New(Config{Auth: fa})
	lis := testkit.Listen(t)
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	conn := testkit.Dial(t, lis.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func(ctx context.Context, conn *grpc.ClientConn, method string) error {
		var out codec.Frame
		return conn.Invoke(ctx, method, &codec.Frame{Data: []byte(`{}`)}, &out, grpc.CallContentSubtype(codec.JSON))
	}

	// Health needs no authentication.
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || fa.last() != "" {
		t.Fatalf("health: %v, auth asked %q", err, fa.last())
	}
	// An unknown service meets auth before anything answers it.
	err := call(ctx, conn, "/deny.Deny/Call")
	if errors.Code(err) != 401 {
		t.Fatalf("denied call: %v", err)
	}
	err = call(ctx, conn, "/helloworld.Helloworld/Call")
	if e := errors.FromError(err, ""); e.Code != 500 || !strings.Contains(e.Detail, "service not found") {
		t.Fatalf("unknown service after auth: %v", err)
	}
	err = call(ctx, conn, "/grpc.health.v1.Health/Nope")
	if st, _ := status.FromError(err); st.Code() != codes.Unimplemented || st.Message() != "unknown method Nope for service grpc.health.v1.Health" {
		t.Fatalf("unknown method: %v", err)
	}
	if err := call(ctx, conn, "/Blank/Call"); errors.Code(err) != 400 {
		t.Fatalf("blank service: %v", err)
	}

	// A network client's address is its own, whatever its metadata says.
	spoof := grpcmd.AppendToOutgoingContext(ctx, metadata.ClientAddress, "203.0.113.1:1")
	call(spoof, conn, "/helloworld.Helloworld/Call")
	if got := fa.last(); !strings.HasPrefix(got, "helloworld Helloworld.Call 127.0.0.1:") {
		t.Fatalf("network client: auth saw %q", got)
	}
	// The in-process door (the gateway) names the HTTP client's address.
	in, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	call(grpcmd.AppendToOutgoingContext(ctx, metadata.ClientAddress, "198.51.100.7:80"), in, "/helloworld.Helloworld/Call")
	if got := fa.last(); got != "helloworld Helloworld.Call 198.51.100.7:80" {
		t.Fatalf("in-process client: auth saw %q", got)
	}

	// Streams meet auth too.
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/deny.Deny/Watch", grpc.CallContentSubtype(codec.JSON))
	if err == nil {
		stream.SendMsg(&codec.Frame{Data: []byte(`{}`)})
		stream.CloseSend()
		var out codec.Frame
		err = stream.RecvMsg(&out)
	}
	if err == io.EOF || errors.Code(err) != 401 {
		t.Fatalf("denied stream: %v", err)
	}
}

// TestTrustedProxyForwardsTheCaller: x-forwarded-for names the caller only
// when the connection comes from a trusted proxy.
func TestTrustedProxyForwardsTheCaller(t *testing.T) {
	for _, c := range []struct {
		trust, want string
	}{{"127.0.0.1", "198.51.100.7"}, {"10.0.0.0/8", "127.0.0.1:"}} {
		trusted, err := clientaddr.ParseProxies([]string{c.trust})
		if err != nil {
			t.Fatal(err)
		}
		fa := &fakeAuth{}
		p := New(Config{Auth: fa, TrustedProxies: trusted})
		lis := testkit.Listen(t)
		go p.Serve(lis)
		conn := testkit.Dial(t, lis.Addr().String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctx = grpcmd.AppendToOutgoingContext(ctx, "x-forwarded-for", "198.51.100.7")
		var out codec.Frame
		conn.Invoke(ctx, "/deny.Deny/Call", &codec.Frame{Data: []byte(`{}`)}, &out, grpc.CallContentSubtype(codec.JSON))
		cancel()
		conn.Close()
		p.Stop(time.Second)
		if got := fa.last(); !strings.HasPrefix(got, "deny Deny.Call "+c.want) {
			t.Errorf("trusting %s: auth saw %q, want the address %s", c.trust, got, c.want)
		}
	}
}
