package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	_ "micro.dev/micro/framework/codec" // JSON and pass-through codecs
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
)

// memStore is a tiny pb.StoreServer over a map, enough to exercise the
// gateway against the real store descriptor.
type memStore struct {
	pb.UnimplementedStoreServer
	mu   sync.Mutex
	data map[string][]byte
	md   metadata.Metadata // metadata of the last call
	gate chan struct{}     // List with prefix "gate" waits on it after the first key
}

func (s *memStore) seen(ctx context.Context) {
	s.mu.Lock()
	s.md = metadata.FromContext(ctx)
	s.mu.Unlock()
}

func (s *memStore) lastMetadata() metadata.Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md
}

func (s *memStore) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	s.seen(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[req.Key]
	if !ok {
		return nil, errors.NotFound("store", "not found")
	}
	return &pb.ReadResponse{Records: []*pb.Record{{Key: req.Key, Value: v, Expiry: 3600}}}, nil
}

func (s *memStore) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	s.seen(ctx)
	if req.GetRecord().GetKey() == "" {
		return nil, errors.BadRequest("store", "missing key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[req.Record.Key] = req.Record.Value
	return &pb.WriteResponse{}, nil
}

// List sends one message per key (Micro sends one with all keys), so the
// test sees several chunks; prefix "fail" ends the stream with an error
// after the first key, prefix "gate" holds the second key until the test
// closes gate.
func (s *memStore) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	s.seen(stream.Context())
	prefix := req.GetOptions().GetPrefix()
	if prefix == "none" {
		return errors.Forbidden("store", "no listing for you")
	}
	s.mu.Lock()
	var keys []string
	for k := range s.data {
		if strings.HasPrefix(k, strings.TrimPrefix(strings.TrimPrefix(prefix, "fail"), "gate")) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for i, k := range keys {
		if i == 1 && strings.HasPrefix(prefix, "fail") {
			return errors.InternalServerError("store", "disk on fire")
		}
		if err := stream.Send(&pb.ListResponse{Keys: []string{k}}); err != nil {
			return err
		}
		if i == 0 && prefix == "gate" {
			select {
			case <-s.gate:
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
	}
	return nil
}

// Tables blocks until the call's deadline for database "slow", to test
// timeouts; otherwise it echoes the namespace it was called in and the
// database it was asked for.
func (s *memStore) Tables(ctx context.Context, req *pb.TablesRequest) (*pb.TablesResponse, error) {
	s.seen(ctx)
	if req.Database == "slow" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &pb.TablesResponse{Tables: []string{metadata.NamespaceFrom(ctx), req.Database}}, nil
}

// memBlob answers BlobStore.Write, a client stream, with an empty reply
// after reading every message.
type memBlob struct {
	pb.UnimplementedBlobStoreServer
	got chan *pb.BlobWriteRequest
}

func (b *memBlob) Write(stream grpc.ClientStreamingServer[pb.BlobWriteRequest, pb.BlobWriteResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.BlobWriteResponse{})
		}
		if err != nil {
			return err
		}
		b.got <- req
	}
}

// env is a gateway in front of a real gRPC server hosting memStore.
type env struct {
	store *memStore
	blob  *memBlob
	conn  *grpc.ClientConn
	gw    *Gateway
	srv   *httptest.Server
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	gs := grpc.NewServer()
	st := &memStore{data: map[string][]byte{}, gate: make(chan struct{})}
	blob := &memBlob{got: make(chan *pb.BlobWriteRequest, 10)}
	pb.RegisterStoreServer(gs, st)
	pb.RegisterBlobStoreServer(gs, blob)
	conn := testkit.Dial(t, testkit.Serve(t, gs))

	if cfg.Router == nil {
		cfg.Router = testRouter(conn)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &env{store: st, blob: blob, conn: conn, gw: New(cfg)}
	e.srv = httptest.NewServer(e.gw)
	t.Cleanup(e.srv.Close)
	return e
}

// testRouter knows one service, "store", and its endpoints from the real
// descriptor, the way the node's router answers for the blocks.
func testRouter(conn grpc.ClientConnInterface) Router {
	return RouterFunc(func(ctx context.Context, ns, service, endpoint string) (Route, error) {
		if service != "store" {
			return Route{}, ErrServiceNotFound
		}
		handler, method, _ := strings.Cut(endpoint, ".")
		desc := pb.Store_ServiceDesc
		switch handler {
		case "Store":
		case "BlobStore":
			desc = pb.BlobStore_ServiceDesc
		default:
			// Let gRPC answer for unknown handlers, to test its mapping.
			return Route{Conn: conn}, nil
		}
		for _, m := range desc.Methods {
			if m.MethodName == method {
				return Route{Conn: conn}, nil
			}
		}
		for _, s := range desc.Streams {
			if s.StreamName == method {
				return Route{Conn: conn, ServerStream: s.ServerStreams, ClientStream: s.ClientStreams}, nil
			}
		}
		return Route{}, errors.NotFound("micro", "service %s has no endpoint %s", service, endpoint)
	})
}

type response struct {
	code   int
	header http.Header
	body   string
}

// do sends one request to the env's gateway.
func (e *env) do(t *testing.T, method, target, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// want checks a response's status and body, but for surrounding space.
func (r response) want(t *testing.T, code int, body string) {
	t.Helper()
	if got := strings.TrimSpace(r.body); r.code != code || got != body {
		t.Fatalf("got %d %s, want %d %s", r.code, r.body, code, body)
	}
}
