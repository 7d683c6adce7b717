package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testca"
	"micro.dev/micro/internal/testkit"
	storepb "micro.dev/micro/proto/store"
	"micro.dev/micro/router"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// Forwarded answers like Words and remembers which node forwarded the
// call it got last.
type Forwarded struct {
	mu sync.Mutex
	by []string
}

func (f *Forwarded) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	md, _ := grpcmd.FromIncomingContext(ctx)
	f.mu.Lock()
	f.by = md.Get(router.ForwardedHeader)
	f.mu.Unlock()
	rsp.Msg = "Hello " + req.Name
	return nil
}

// TestClusterWithTLS: two nodes whose gateways and proxies serve TLS
// with a public certificate (--tls-cert) and whose routes and forwarded
// calls use the cluster's own CA (--cluster-tls-*). A service run on A is
// called through B's HTTPS gateway: B forwards the call to A's forwarding
// listener, which takes mutual TLS with a cluster certificate only (not
// plaintext, not without a certificate, not one of another CA, not the
// public one) and still checks every call as the proxy does.
func TestClusterWithTLS(t *testing.T) {
	dir := t.TempDir()
	clusterCA, publicCA := testca.New(t), testca.New(t)
	publicDir := filepath.Join(dir, "public")
	os.Mkdir(publicDir, 0o700)
	_, publicCert, publicKey := publicCA.WriteFiles(t, publicDir, "127.0.0.1")
	cfgs := clusterConfigs(t, dir, 2)
	for i := range cfgs {
		certDir := filepath.Join(dir, "cluster", string(rune('a'+i)))
		os.MkdirAll(certDir, 0o700)
		caFile, certFile, keyFile := clusterCA.WriteFiles(t, certDir, "127.0.0.1")
		cfgs[i].TLSCert, cfgs[i].TLSKey = publicCert, publicKey
		cfgs[i].Cluster.TLSCert, cfgs[i].Cluster.TLSKey, cfgs[i].Cluster.TLSCA = certFile, keyFile, caFile
	}
	nodes := startNodes(t, cfgs)
	for _, n := range nodes {
		t.Cleanup(func() { n.Close() })
	}
	a, b := nodes[0], nodes[1]

	quiet := slog.New(slog.DiscardHandler)
	handler := new(Forwarded)
	srv := service.New(service.Name("owned"), service.Proxy(a.servicesProxyAddr()), service.Logger(quiet),
		service.HandleSignal(false), service.Credentials("admin", "micro"))
	if err := srv.Handle(handler); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })

	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: publicCA.Pool()}}}
	var body string
	testkit.Eventually(t, 20*time.Second, "the service on A through B's HTTPS gateway", func() bool {
		rsp, err := httpc.Post("https://"+b.GatewayAddr()+"/owned/Forwarded/Call", "application/json", bytes.NewReader([]byte(`{"name":"Ada"}`)))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		body = string(got)
		return rsp.StatusCode == 200
	})
	if body != `{"msg":"Hello Ada"}` {
		t.Fatalf("through B: %s", body)
	}
	handler.mu.Lock()
	by := handler.by
	handler.mu.Unlock()
	if len(by) != 1 || by[0] != b.id {
		t.Fatalf("the call reached the service forwarded by %v, want by B (%s)", by, b.id)
	}

	// A's forwarding listener, dialled as B would and as others might.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	member, err := tls.LoadX509KeyPair(cfgs[1].Cluster.TLSCert, cfgs[1].Cluster.TLSKey)
	if err != nil {
		t.Fatal(err)
	}
	public, err := tls.LoadX509KeyPair(publicCert, publicKey)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey := testca.New(t).Issue(t, "127.0.0.1")
	stranger, err := tls.X509KeyPair(strangerCert, strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(creds credentials.TransportCredentials) *grpc.ClientConn {
		conn, err := grpc.NewClient(a.ForwardAddr(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	withCert := func(certs ...tls.Certificate) credentials.TransportCredentials {
		return credentials.NewTLS(&tls.Config{Certificates: certs, RootCAs: clusterCA.Pool()})
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":                            insecure.NewCredentials(),
		"TLS without a certificate":            withCert(),
		"a certificate of another CA":          withCert(stranger),
		"the public proxy's certificate":       withCert(public),
		"a member's certificate, not trusting": credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{member}, RootCAs: publicCA.Pool()}),
	} {
		if _, err := healthpb.NewHealthClient(dial(creds)).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
			t.Errorf("%s: A's forwarding listener answered", name)
		}
	}
	conn := dial(withCert(member))
	if rsp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || rsp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("with a member's certificate: %v %v", rsp, err)
	}
	// The certificate lets a node in, not a caller: the call is still
	// checked as on the proxy.
	_, err = storepb.NewStoreClient(conn).Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: "k", Value: []byte("v")}})
	if code := errors.FromError(err, "").Code; code != 401 {
		t.Fatalf("a write without a token through the forwarding listener: %v (code %d), want 401", err, code)
	}
}
