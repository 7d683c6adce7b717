package service_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/framework/server"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/node/nodetest"
	authpb "micro.dev/micro/proto/auth"
)

type WhoRequest struct {
	Name string `json:"name"`
}

type WhoResponse struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Issuer   string            `json:"issuer"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`
	Greeting string            `json:"greeting"`
}

// Who answers with the caller the service verified.
type Who struct {
	mu    sync.Mutex
	calls int
}

func (w *Who) Am(ctx context.Context, req *WhoRequest, rsp *WhoResponse) error {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	rsp.Greeting = "Hello " + req.Name
	if acc, ok := auth.AccountFromContext(ctx); ok {
		rsp.ID, rsp.Type, rsp.Issuer, rsp.Scopes, rsp.Metadata = acc.ID, acc.Type, acc.Issuer, acc.Scopes, acc.Metadata
	}
	return nil
}

func (w *Who) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// callCounter is a call wrapper counting the calls the service makes, by
// endpoint.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) wrap(next client.CallFunc) client.CallFunc {
	return func(ctx context.Context, addr string, req client.Request, rsp any, o client.CallOptions) error {
		c.mu.Lock()
		c.calls[req.Service()+" "+req.Endpoint()]++
		c.mu.Unlock()
		return next(ctx, addr, req, rsp, o)
	}
}

func (c *callCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

func (c *callCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

// serviceAccount makes a service account in ns and returns its id and
// secret, as the runtime gives them to a service it starts.
func serviceAccount(t *testing.T, n *nodetest.Server, ns, id string) (string, string) {
	t.Helper()
	admin := n.Client(client.Options{})
	req := &authpb.GenerateRequest{Id: id, Secret: "secret-" + id, Type: "service", Scopes: []string{"service"},
		Options: &authpb.Options{Namespace: ns}}
	if err := admin.Call(context.Background(), admin.NewRequest("auth", "Auth.Generate", req), new(authpb.GenerateResponse)); err != nil {
		t.Fatal(err)
	}
	return id, "secret-" + id
}

func startService(t *testing.T, n *nodetest.Server, name string, opts ...service.Option) *service.Service {
	t.Helper()
	id, secret := serviceAccount(t, n, "micro", name)
	srv := service.New(append([]service.Option{service.Name(name), service.Proxy(n.Proxy()),
		service.Credentials(id, secret), service.Logger(nodetest.Quiet()), service.HandleSignal(false)}, opts...)...)
	return srv
}

func run(t *testing.T, srv *service.Service) {
	t.Helper()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
}

// The caller a handler sees is verified in the service with the
// namespace's public keys: N calls cost one key fetch and no Inspect, and
// a forged token gives the handler no account.
func TestAccountFromContext(t *testing.T) {
	n := nodetest.Start(t)
	counter := &callCounter{calls: map[string]int{}}
	who := new(Who)
	srv := startService(t, n, "who", service.WrapCall(counter.wrap))
	if err := srv.Handle(who); err != nil {
		t.Fatal(err)
	}
	run(t, srv)
	before := counter.total() // the service's own start (its token, registering)

	caller := n.Client(client.Options{}) // the default admin of micro
	const calls = 25
	for i := range calls {
		rsp := new(WhoResponse)
		if err := caller.Call(context.Background(), caller.NewRequest("who", "Who.Am", &WhoRequest{Name: "Jo"}), rsp); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if rsp.ID != "admin" || rsp.Type != "user" || rsp.Issuer != "micro" || !strings.Contains(strings.Join(rsp.Scopes, ","), "admin") {
			t.Fatalf("call %d: the handler saw account %+v, want the default admin", i, rsp)
		}
	}
	fetches, inspects := counter.get("auth Auth.PublicKeys"), counter.get("auth Auth.Inspect")
	t.Logf("%d calls with a valid token: %d key fetches, %d inspects, %d calls from the service in all",
		calls, fetches, inspects, counter.total()-before)
	if fetches != 1 || inspects != 0 || counter.total()-before != 1 {
		t.Errorf("%d calls made %d key fetches, %d inspects, %d server calls; want 1, 0, 1",
			calls, fetches, inspects, counter.total()-before)
	}

	// Straight to the service's address, past the proxy's own check: a
	// token signed with another key, and no token, give no account.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "admin", "iss": "micro", "type": "user",
		"scopes": []string{"admin"}, "exp": time.Now().Add(time.Hour).Unix()})
	tok, err := caller.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := jwt.NewParser().Parse(tok, nil)
	forged.Header["kid"] = kid.Header["kid"] // the real key's id, the wrong key
	forgedTok, err := forged.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := client.New(client.Options{Proxy: n.Proxy(), Logger: nodetest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	for _, c := range []struct{ what, authorization, want string }{
		{"valid token", "Bearer " + tok, "admin"},
		{"forged token", "Bearer " + forgedTok, ""},
		{"garbage", "Bearer not-a-jwt", ""},
		{"no token", "", ""},
	} {
		ctx, c2 := context.Background(), client.Client(caller)
		if c.authorization != "" {
			ctx = metadata.Set(ctx, metadata.Authorization, c.authorization)
		} else {
			c2 = anonymous
		}
		rsp := new(WhoResponse)
		err := c2.Call(ctx, caller.NewRequest("who", "Who.Am", &WhoRequest{Name: "x"}), rsp, client.WithAddress(srv.Address()))
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if rsp.ID != c.want {
			t.Errorf("%s: the handler saw account %q, want %q", c.what, rsp.ID, c.want)
		}
	}
	if got := counter.get("auth Auth.PublicKeys"); got > 2 {
		t.Errorf("a forged token with a known key id made %d key fetches in all", got)
	}

	// auth.Inspect and auth.Verify, as Micro's, through the service's client.
	acc, err := auth.Inspect(tok)
	if err != nil || acc.ID != "admin" {
		t.Fatalf("Inspect(valid) = %+v, %v", acc, err)
	}
	if _, err := auth.Inspect(forgedTok); err != auth.ErrInvalidToken {
		t.Errorf("Inspect(forged) = %v, want ErrInvalidToken", err)
	}
	admin := n.Client(client.Options{})
	rule := &authpb.CreateRequest{Rule: &authpb.Rule{Id: "locked", Scope: "*", Priority: 10, Access: authpb.Access_DENIED,
		Resource: &authpb.Resource{Type: "service", Name: "who", Endpoint: "Who.Secret"}}}
	if err := admin.Call(context.Background(), admin.NewRequest("auth", "Rules.Create", rule), new(authpb.CreateResponse)); err != nil {
		t.Fatal(err)
	}
	res := &auth.Resource{Type: "service", Name: "who", Endpoint: "Who.Am"}
	if err := auth.Verify(nil, res); err != nil {
		t.Errorf("Verify(anonymous) under the default public rule: %v", err)
	}
	denied := &auth.Resource{Type: "service", Name: "who", Endpoint: "Who.Secret"}
	if err := auth.Verify(acc, denied); err != auth.ErrForbidden {
		t.Errorf("Verify(admin, denied resource) = %v, want ErrForbidden", err)
	}
}

// Handler, call, client and subscriber wrappers see what passes and can
// refuse it.
func TestWrappers(t *testing.T) {
	n := nodetest.Start(t)
	var (
		mu        sync.Mutex
		seen      []string
		clientOps int
	)
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	handlerWrapper := func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			body := req.Body().(*WhoRequest)
			acc, _ := auth.AccountFromContext(ctx)
			var id string
			if acc != nil {
				id = acc.ID
			}
			note("handler " + req.Endpoint() + " " + body.Name + " by " + id)
			if body.Name == "Mallory" {
				return errors.Forbidden("wrapped", "no Mallory")
			}
			return next(ctx, req, rsp)
		}
	}
	callWrapper := func(next client.CallFunc) client.CallFunc {
		return func(ctx context.Context, addr string, req client.Request, rsp any, o client.CallOptions) error {
			if req.Service() == "blocked" {
				note("call refused " + req.Endpoint())
				return errors.Forbidden("wrapped", "calls to blocked are not allowed")
			}
			return next(ctx, addr, req, rsp, o)
		}
	}
	clientWrapper := func(c client.Client) client.Client {
		return &countingClient{Client: c, n: func() { mu.Lock(); clientOps++; mu.Unlock() }}
	}
	type Note struct {
		Text string `json:"text"`
	}
	got := make(chan string, 4)
	subWrapper := func(next server.SubscriberFunc) server.SubscriberFunc {
		return func(ctx context.Context, msg server.Message) error {
			text := msg.Payload().(*Note).Text
			note("message " + msg.Topic() + " " + text)
			if text == "spam" {
				return errors.BadRequest("wrapped", "no spam")
			}
			return next(ctx, msg)
		}
	}
	who := new(Who)
	srv := startService(t, n, "wrapped", service.WrapHandler(handlerWrapper), service.WrapCall(callWrapper),
		service.WrapClient(clientWrapper), service.WrapSubscriber(subWrapper))
	if err := srv.Handle(who); err != nil {
		t.Fatal(err)
	}
	if err := srv.Subscribe("notes", func(ctx context.Context, n *Note) error {
		got <- n.Text
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, srv)

	caller := n.Client(client.Options{})
	rsp := new(WhoResponse)
	if err := caller.Call(context.Background(), caller.NewRequest("wrapped", "Who.Am", &WhoRequest{Name: "Alice"}), rsp); err != nil || rsp.Greeting != "Hello Alice" {
		t.Fatalf("a call the wrapper lets through: %+v, %v", rsp, err)
	}
	err := caller.Call(context.Background(), caller.NewRequest("wrapped", "Who.Am", &WhoRequest{Name: "Mallory"}), new(WhoResponse))
	if errors.Code(err) != 403 || !strings.Contains(err.Error(), "no Mallory") {
		t.Errorf("a call the handler wrapper refuses: %v, want its 403", err)
	}
	if who.count() != 1 {
		t.Errorf("the handler ran %d times, want 1 (the refused call must not reach it)", who.count())
	}

	err = srv.Client().Call(context.Background(), srv.Client().NewRequest("blocked", "Blocked.Call", &WhoRequest{}), new(WhoResponse))
	if errors.Code(err) != 403 {
		t.Errorf("a call the call wrapper refuses: %v, want its 403", err)
	}
	if err := srv.Client().Call(context.Background(), srv.Client().NewRequest("wrapped", "Who.Am", &WhoRequest{Name: "Self"}), new(WhoResponse)); err != nil {
		t.Errorf("the service calling itself through its wrapped client: %v", err)
	}

	// Micro's two ways to publish: an Event, and the client's Publish.
	if err := service.NewEvent("notes").Publish(context.Background(), &Note{Text: "spam"}); err != nil {
		t.Fatal(err)
	}
	if err := client.Publish(context.Background(), client.NewMessage("notes", &Note{Text: "hello"})); err != nil {
		t.Fatal(err)
	}
	select {
	case text := <-got:
		if text != "hello" {
			t.Errorf("the subscriber got %q; the wrapper should have refused spam", text)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the subscriber")
	}

	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(seen, "\n")
	for _, want := range []string{"handler Who.Am Alice by admin", "handler Who.Am Mallory by admin",
		"call refused Blocked.Call", "handler Who.Am Self by wrapped", "message notes spam", "message notes hello"} {
		if !strings.Contains(all, want) {
			t.Errorf("the wrappers did not see %q; they saw:\n%s", want, all)
		}
	}
	if clientOps < 2 {
		t.Errorf("the client wrapper saw %d calls, want the service's calls", clientOps)
	}
}

type countingClient struct {
	client.Client
	n func()
}

func (c *countingClient) Call(ctx context.Context, req client.Request, rsp any, opts ...client.CallOption) error {
	c.n()
	return c.Client.Call(ctx, req, rsp, opts...)
}

func (c *countingClient) Stream(ctx context.Context, req client.Request, opts ...client.CallOption) (client.Stream, error) {
	c.n()
	return c.Client.Stream(ctx, req, opts...)
}
