package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
)

// Who may call an endpoint of the node, in a namespace.
type access int

const (
	// adminOnly: administrators of the namespace (and of micro) only.
	adminOnly access = iota
	// member: any account of the namespace.
	member
	// public: anyone, signed in or not.
	public
)

// endpointAccess is who may call each endpoint the node serves itself.
// Any endpoint not listed is expected to be admin-only, so a new endpoint is
// walked, strictly, as soon as it is registered.
var endpointAccess = map[string]access{
	"/auth.Auth/Token":                public, // logging in
	"/auth.Auth/Inspect":              public, // the token is the credential
	"/auth.Auth/PublicKeys":           public, // public keys are not secret
	"/auth.Accounts/ChangeSecret":     member, // non-admins give their old secret
	"/broker.Broker/Publish":          member,
	"/broker.Broker/Subscribe":        member,
	"/registry.Registry/GetService":   member,
	"/registry.Registry/ListServices": member,
	"/registry.Registry/Watch":        member,
	"/network.Network/Services":       member,
	"/network.Network/Routes":         member,
	// The "micro" network, public as the registry's "micro" domain is.
	"/network.Network/Nodes":  public,
	"/network.Network/Graph":  public,
	"/network.Network/Status": public,
	"/runtime.Runtime/Read":   member,
	// The proxy's own: health checks and gRPC reflection describe no
	// namespace's data.
	"/grpc.health.v1.Health/Check":                                   public,
	"/grpc.health.v1.Health/List":                                    public,
	"/grpc.health.v1.Health/Watch":                                   public,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      public,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": public,
}

// TestEveryEndpointRefuses walks every endpoint registered on the proxy
// (blocks and node alike) in namespace "team", through the proxy and
// through the gateway, as an anonymous caller, as an administrator of
// another namespace and as a member of "team" who does not administer it.
// Each caller the endpoint's access does not admit must be refused with a
// 401 or a 403: any other answer (a reply, a 400, a 404, no answer in
// time) means the call got past access control.
func TestEveryEndpointRefuses(t *testing.T) {
	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	w := newWalker(t, n)

	rootTok := w.login("micro", "admin", "micro")
	w.generate(rootTok, "team", "member", nil)
	w.generate(rootTok, "other", "boss", []string{"admin"})
	callers := []struct{ name, token string }{
		{"anonymous", ""},
		{"admin of other", w.login("other", "boss", "secret-boss")},
		{"non-admin of team", w.login("team", "member", "secret-member")},
	}

	methods := w.methods(n)
	if len(methods) < 40 {
		t.Fatalf("only %d endpoints registered: the walk would miss blocks", len(methods))
	}
	for full := range endpointAccess {
		if !slices.Contains(methods, full) {
			t.Errorf("endpointAccess lists %s, which is not served", full)
		}
	}

	walked := 0
	for _, full := range methods {
		want := endpointAccess[full]
		for i, c := range callers {
			// Callers are listed from least to most trusted: anonymous and
			// the other namespace's admin are never members of "team".
			if want == public || (want == member && i == 2) {
				continue
			}
			walked++
			if err := w.proxyErr(full, c.token); !refused(err) {
				t.Errorf("proxy %s as %s: %v, want a 401 or 403", full, c.name, err)
			}
			if err := w.gatewayErr(full, c.token); !refused(err) {
				t.Errorf("gateway %s as %s: %v, want a 401 or 403", full, c.name, err)
			}
		}
	}
	t.Logf("%d endpoints, %d refusals checked on each door", len(methods), walked)
}

func refused(err error) bool {
	code := errors.Code(err)
	return code == 401 || code == 403
}

// walker calls a node's endpoints through its proxy and its gateway.
type walker struct {
	t       *testing.T
	conn    *grpc.ClientConn
	gateway string
	streams map[string]*grpc.StreamDesc
}

func newWalker(t *testing.T, n *Node) *walker {
	return &walker{t: t, conn: testkit.Dial(t, n.ProxyAddr()), gateway: "http://" + n.GatewayAddr(), streams: map[string]*grpc.StreamDesc{}}
}

// methods lists the full name of every endpoint the node's proxy serves,
// from the registered service descriptors, and notes which stream.
func (w *walker) methods(n *Node) []string {
	var methods []string
	for svc, info := range n.proxy.Server().GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			methods = append(methods, full)
			if m.IsClientStream || m.IsServerStream {
				w.streams[full] = &grpc.StreamDesc{StreamName: m.Name, ServerStreams: m.IsServerStream, ClientStreams: m.IsClientStream}
			}
		}
	}
	sort.Strings(methods)
	return methods
}

// callTimeout bounds a call that is not refused at once: a stream that
// was let in stays open, and counts as let in.
const callTimeout = 3 * time.Second

func (w *walker) ctx(ns, token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	md := grpcmd.Pairs("micro-namespace", ns)
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	return grpcmd.NewOutgoingContext(ctx, md), cancel
}

// proxyErr calls full with an empty JSON request and returns the answer's
// error: nil for a reply, a 408 for no answer in time.
func (w *walker) proxyErr(full, token string) error {
	return w.callErr(full, "{}", token)
}

// callErr calls full with the JSON request req in namespace "team" and
// returns the answer's error, as proxyErr.
func (w *walker) callErr(full, req, token string) error { return w.callErrIn("team", full, req, token) }

// callErrIn is callErr in namespace ns.
func (w *walker) callErrIn(ns, full, req, token string) error {
	ctx, cancel := w.ctx(ns, token)
	defer cancel()
	in := &codec.Frame{Data: []byte(req)}
	var err error
	if desc := w.streams[full]; desc == nil {
		err = w.conn.Invoke(ctx, full, in, &codec.Frame{}, grpc.CallContentSubtype(codec.JSON))
	} else {
		var cs grpc.ClientStream
		if cs, err = w.conn.NewStream(ctx, desc, full, grpc.CallContentSubtype(codec.JSON)); err == nil {
			if err = cs.SendMsg(in); err == nil || err == io.EOF {
				cs.CloseSend()
				err = cs.RecvMsg(&codec.Frame{})
			}
		}
	}
	if ctx.Err() != nil {
		return errors.Timeout("test", "%s: no answer in %v", full, callTimeout)
	}
	return err
}

// gatewayErr POSTs {} to the gateway path of full and returns the answer
// as a micro error: nil for a 200, a 408 for no answer in time.
func (w *walker) gatewayErr(full, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.gateway+gatewayPath(full), strings.NewReader("{}"))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Micro-Namespace", "team")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return errors.Timeout("test", "%s: %v", full, err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode == http.StatusOK {
		return nil
	}
	e := errors.Parse(string(body))
	// The status is the answer; the body says why.
	e.Code = int32(rsp.StatusCode)
	return e
}

// gatewayPath is the HTTP path of a gRPC method: /store.Store/Read is
// service store, endpoint Store.Read, at /store/Store/Read.
func gatewayPath(full string) string {
	svc, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	pkg, handler := svc[:strings.LastIndex(svc, ".")], svc[strings.LastIndex(svc, ".")+1:]
	return "/" + strings.ReplaceAll(pkg, ".", "/") + "/" + handler + "/" + method
}

// call makes a unary call as the default admin would, failing the test on
// an error.
func (w *walker) call(token, ns, full string, req, rsp any) {
	w.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md := grpcmd.Pairs("micro-namespace", ns)
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	var out codec.Frame
	if err := w.conn.Invoke(grpcmd.NewOutgoingContext(ctx, md), full, &codec.Frame{Data: body}, &out,
		grpc.CallContentSubtype(codec.JSON)); err != nil {
		w.t.Fatalf("%s in %s: %v", full, ns, err)
	}
	if err := json.Unmarshal(out.Data, rsp); err != nil {
		w.t.Fatalf("%s: %v in %s", full, err, out.Data)
	}
}

func (w *walker) login(ns, id, secret string) string {
	w.t.Helper()
	var rsp struct {
		Token struct {
			AccessToken string `json:"access_token"`
		} `json:"token"`
	}
	w.call("", ns, "/auth.Auth/Token", map[string]any{"id": id, "secret": secret, "options": map[string]string{"namespace": ns}}, &rsp)
	if rsp.Token.AccessToken == "" {
		w.t.Fatalf("no access token for %s/%s", ns, id)
	}
	return rsp.Token.AccessToken
}

// generate makes a user id of namespace ns with the secret "secret-"+id.
func (w *walker) generate(token, ns, id string, scopes []string) {
	w.t.Helper()
	var rsp map[string]any
	w.call(token, ns, "/auth.Auth/Generate", map[string]any{"id": id, "secret": "secret-" + id, "type": "user",
		"scopes": scopes, "options": map[string]string{"namespace": ns}}, &rsp)
}

// TestBlocksWithoutAuthorizerRefuse: blocks built without an authorizer
// refuse every call, even the default admin's and even where their rules
// are public (logging in included).
func TestBlocksWithoutAuthorizerRefuse(t *testing.T) {
	cfg := Config{Data: filepath.Join(t.TempDir(), "micro.db"), GatewayAddress: "127.0.0.1:0",
		ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	// A token of the default admin, from a node with the real rule on the
	// same file: it stays valid across the restart.
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(t, n)
	token := w.login("micro", "admin", "micro")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n, err = startWith(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	w = newWalker(t, n)
	walked := 0
	for _, full := range w.methods(n) {
		// The proxy's health and reflection are not blocks; the node's
		// own admin service asks the same authorizer.
		if strings.HasPrefix(full, "/grpc.") {
			continue
		}
		walked++
		for _, err := range []error{w.proxyErr(full, token), w.gatewayErr(full, token)} {
			if errors.Code(err) != 403 || !strings.Contains(err.Error(), "without an authorizer") {
				t.Errorf("%s by the admin, no authorizer: %v, want the 403 of a missing authorizer", full, err)
			}
		}
	}
	if walked < 40 {
		t.Fatalf("only %d block endpoints walked", walked)
	}
}

// TestNetworkHidesOtherNamespaces: the network block shows no more of a
// namespace's services than the registry does (issue: anonymous callers
// listed any namespace's routes with their node addresses).
func TestNetworkHidesOtherNamespaces(t *testing.T) {
	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	w := newWalker(t, n)
	post := func(path, body string, header ...string) int {
		req, _ := http.NewRequest(http.MethodPost, w.gateway+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		return rsp.StatusCode
	}
	for _, c := range []struct {
		path, body string
		header     []string
		want       int
	}{
		{"/network/Network/Routes", `{"query":{"network":"other"}}`, nil, 401},
		{"/network/Network/Routes", `{"query":{"network":"*"}}`, nil, 401},
		{"/network/Network/Services", `{}`, []string{"Micro-Namespace", "other"}, 401},
		{"/network/Network/Routes", `{}`, []string{"Micro-Namespace", "other"}, 401},
		// The "micro" network stays public, as the registry's "micro" is.
		{"/network/Network/Routes", `{}`, nil, 200},
		{"/network/Network/Services", `{}`, nil, 200},
	} {
		if got := post(c.path, c.body, c.header...); got != c.want {
			t.Errorf("anonymous %s %s %v: %d, want %d", c.path, c.body, c.header, got, c.want)
		}
	}
}
