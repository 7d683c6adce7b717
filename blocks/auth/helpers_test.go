package auth

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	fauth "micro.dev/micro/framework/auth"
	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/natstest"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/auth"
	"micro.dev/micro/proxy"
	"micro.dev/micro/schema"
)

// quiet drops the block's logs, which tests check through behaviour.
var quiet = WithLogger(slog.New(slog.DiscardHandler))

// env is the auth block on a fresh database file, served by a real proxy
// (so every call meets Authenticate) over loopback gRPC.
type env struct {
	with     []Option // the backend's options, to open it again
	path     string
	db       *schema.DB
	auth     *Auth
	clock    *testkit.Clock
	conn     *grpc.ClientConn
	authc    pb.AuthClient
	accounts pb.AccountsClient
	rules    pb.RulesClient
}

func openDB(tb testing.TB, path string) *schema.DB {
	tb.Helper()
	db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func newEnv(tb testing.TB, opts ...Option) *env {
	tb.Helper()
	return newEnvAt(tb, filepath.Join(tb.TempDir(), "micro.db"), opts...)
}

// newEnvAt is newEnv on the database file at path, made if absent.
func newEnvAt(tb testing.TB, path string, opts ...Option) *env {
	tb.Helper()
	e := &env{with: opts, path: path, clock: testkit.NewClock()}
	e.db = openDB(tb, e.path)
	tb.Cleanup(func() {
		if err := e.db.Close(); err != nil {
			tb.Error(err)
		}
	})
	e.auth = New(e.db, fauth.Namespaces, append([]Option{WithClock(e.clock.Now), quiet}, opts...)...)
	if err := e.auth.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.auth.Close() })

	p := proxy.New(proxy.Config{Auth: e.auth})
	e.auth.Register(p.Server())
	lis := testkit.Listen(tb)
	go p.Serve(lis)
	tb.Cleanup(func() { p.Stop(time.Second) })
	e.conn = testkit.Dial(tb, lis.Addr().String())
	e.authc = pb.NewAuthClient(e.conn)
	e.accounts = pb.NewAccountsClient(e.conn)
	e.rules = pb.NewRulesClient(e.conn)
	return e
}

// as returns ctx calling with token (and no namespace of its own).
func as(ctx context.Context, token string) context.Context {
	return metadata.Set(ctx, metadata.Authorization, "Bearer "+token)
}

// inNS returns ctx calling in namespace ns.
func inNS(ctx context.Context, ns string) context.Context {
	return metadata.Set(ctx, metadata.Namespace, ns)
}

// login gets a token for id/secret in ns, failing the test if it cannot.
func (e *env) login(tb testing.TB, ns, id, secret string) *pb.Token {
	tb.Helper()
	rsp, err := e.authc.Token(context.Background(), &pb.TokenRequest{Id: id, Secret: secret, Options: &pb.Options{Namespace: ns}})
	if err != nil {
		tb.Fatalf("login %s/%s: %v", ns, id, err)
	}
	return rsp.Token
}

// admin is a token of the default admin.
func (e *env) admin(tb testing.TB) string {
	return e.login(tb, "micro", AdminID, DefaultAdminPassword).AccessToken
}

// generate creates an account as the default admin.
func (e *env) generate(tb testing.TB, ns, id, typ, secret string, scopes ...string) {
	tb.Helper()
	_, err := e.authc.Generate(as(context.Background(), e.admin(tb)), &pb.GenerateRequest{
		Id: id, Type: typ, Secret: secret, Scopes: scopes, Options: &pb.Options{Namespace: ns},
	})
	if err != nil {
		tb.Fatalf("generate %s/%s: %v", ns, id, err)
	}
}

// wantCode fails unless err is a micro error with code (0: no error) whose
// detail contains detail.
func wantCode(tb testing.TB, what string, err error, code int32, detail string) {
	tb.Helper()
	me := merrors.FromError(err, "")
	got := int32(0)
	if me != nil {
		got = me.Code
	}
	if got != code {
		tb.Fatalf("%s: code %d (%v), want %d", what, got, err, code)
	}
	if me != nil && detail != "" && !strings.Contains(me.Detail, detail) {
		tb.Fatalf("%s: detail %q, want it to contain %q", what, me.Detail, detail)
	}
}

// forEachBackend runs test over each backend: SQLite, and JetStream where
// fresh starts a new single server each call (a node of its own cluster).
func forEachBackend(t *testing.T, test func(t *testing.T, fresh func() []Option)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func() []Option { return nil })
	})
	t.Run("jetstream", func(t *testing.T) {
		test(t, func() []Option {
			return []Option{WithJetStream(natstest.Connect(t, natstest.Server(t)), 1)}
		})
	})
}
