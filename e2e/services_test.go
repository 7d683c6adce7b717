package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/internal/testkit"
	hwpb "micro.dev/micro/testdata/helloworld/proto"
)

// TestServicesTour walks the tour with helloworld and caller
// running as real processes: discovery, every way of calling, streams over
// chunked HTTP and websockets, service-to-service calls, and bad input.
func TestServicesTour(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	hello := startService(t, s, helloBinPath(t))
	caller := startService(t, s, callerBinPath(t), "CALLER_INTERVAL=200ms")
	c := newCLI(t, s)

	// Discovery.
	services := strings.Fields(c.ok("services"))
	for _, want := range []string{"caller", "helloworld", "network", "registry", "store"} {
		if !contains(services, want) {
			t.Fatalf("micro services = %v, missing %s", services, want)
		}
	}
	out := c.ok("get", "service", "helloworld")
	for _, want := range []string{"service  helloworld", "version latest", hello.nodeID, "Endpoint: Helloworld.Call",
		"Request: {\n\tname string\n}", "Response: {\n\tmsg string\n}", "Endpoint: Helloworld.Stream", "stream=true"} {
		if !strings.Contains(out, want) {
			t.Fatalf("micro get service helloworld lacks %q:\n%s", want, out)
		}
	}

	// HTTP: GET with a query, POST as curl -d sends it, micro-js-client's
	// /v1 path, and headers as metadata.
	if code, body := get(t, s.gateway+"/helloworld/Call?name=John"); code != 200 || body != `{"msg":"Hello John"}` {
		t.Fatalf("GET: %d %s", code, body)
	}
	if code, body, _ := post(t, s.gateway+"/helloworld/Helloworld/Call", "application/x-www-form-urlencoded", `{"name":"John"}`); code != 200 || body != `{"msg":"Hello John"}` {
		t.Fatalf("curl -d: %d %s", code, body)
	}
	if code, body, _ := post(t, s.gateway+"/v1/helloworld/Call", "application/json", `{"name":"Alice"}`); code != 200 || body != `{"msg":"Hello Alice"}` {
		t.Fatalf("micro-js-client path: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", s.gateway+"/helloworld/Helloworld/Call", strings.NewReader(`{"name":"John"}`))
	req.Header.Set("X-Salutation", "Howdy")
	if body := do(t, req); body != `{"msg":"Howdy John"}` {
		t.Fatalf("header as metadata: %s", body)
	}

	// CLI: micro call, the dynamic command and its help.
	want := "{\n\t\"msg\": \"Hello Jane\"\n}\n"
	if out := c.ok("call", "helloworld", "Helloworld.Call", `{"name":"Jane"}`); out != want {
		t.Fatalf("micro call: %q", out)
	}
	if out := c.ok("helloworld", "call", "--name=Jane"); out != want {
		t.Fatalf("micro helloworld call: %q", out)
	}
	if out := c.ok("call", "--metadata", "X-Salutation=Howdy", "helloworld", "Helloworld.Call", `{"name":"Jane"}`); out != "{\n\t\"msg\": \"Howdy Jane\"\n}\n" {
		t.Fatalf("micro call --metadata: %q", out)
	}
	// --address calls the node itself, past the proxy.
	var node string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == hello.nodeID {
			node = f[1]
		}
	}
	if node == "" {
		t.Fatalf("micro get service helloworld shows no address for node %s:\n%s", hello.nodeID, out)
	}
	if out := c.ok("call", "--address", node, "helloworld", "Helloworld.Call", `{"name":"Jane"}`); out != want {
		t.Fatalf("micro call --address %s: %q", node, out)
	}
	if _, errOut, code := c.run("call", "--address", node, "registry", "Registry.ListServices", "{}"); code == 0 || !strings.Contains(errOut, "This is service helloworld, not registry") {
		t.Fatalf("micro call --address %s registry: exit %d, %q; want the node's own refusal", node, code, errOut)
	}
	help := c.ok("helloworld", "--help")
	for _, want := range []string{"call", "Helloworld.Call", "--name string", "stream", "--count int64", "pingPong", "--stroke int64"} {
		if !strings.Contains(help, want) {
			t.Fatalf("micro helloworld --help lacks %q:\n%s", want, help)
		}
	}
	if out := c.ok("stream", "helloworld", "Helloworld.Stream", `{"count":2}`); out != "{\n\t\"count\": \"0\"\n}\n{\n\t\"count\": \"1\"\n}\n" {
		t.Fatalf("micro stream: %q", out)
	}
	if out := c.ok("helloworld", "stream", "--count", "1"); out != "{\n\t\"count\": \"0\"\n}\n" {
		t.Fatalf("micro helloworld stream: %q", out)
	}

	// gRPC through the proxy: protobuf and JSON, and the generated client.
	conn := dialProxy(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rsp := new(hwpb.Response)
	if err := conn.Invoke(ctx, "/helloworld.Helloworld/Call", &hwpb.Request{Name: "x"}, rsp); err != nil || rsp.Msg != "Hello x" {
		t.Fatalf("gRPC proto: %v %v", rsp, err)
	}
	var frame codec.Frame
	if err := conn.Invoke(ctx, "/helloworld.Helloworld/Call", &codec.Frame{Data: []byte(`{"name":"y"}`)}, &frame,
		grpc.CallContentSubtype(codec.JSON)); err != nil || string(frame.Data) != `{"msg":"Hello y"}` {
		t.Fatalf("gRPC JSON: %s %v", frame.Data, err)
	}
	typedClient(t, ctx, s)
	grpcurlLike(t, ctx, s)

	// Streams over chunked HTTP and websockets.
	httpStream(t, s)
	websocketStreams(t, s)

	// The caller calls helloworld through its generated client.
	testkit.Eventually(t, 20*time.Second, "caller's replies", func() bool { return caller.count("Response:  Hello John") >= 2 })

	// The network's view.
	if out := c.ok("network", "services"); !strings.Contains(out, "helloworld\n") {
		t.Fatalf("micro network services: %s", out)
	}
	if out := c.ok("network", "routes", "--service", "helloworld"); !strings.Contains(out, "helloworld") || !strings.Contains(out, "network") {
		t.Fatalf("micro network routes: %s", out)
	}

	badInput(t, s, c)
}

func helloBinPath(t *testing.T) string  { buildSamples(t); return helloBin }
func callerBinPath(t *testing.T) string { buildSamples(t); return callerBin }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func do(t *testing.T, req *http.Request) string {
	t.Helper()
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return string(b)
}

// typedClient calls helloworld with its generated client through the
// proxy, as another service would: unary, server stream and bidi.
func typedClient(t *testing.T, ctx context.Context, s *server) {
	t.Helper()
	cl, err := client.New(client.Options{Proxy: s.proxy})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	hw := hwpb.NewHelloworldService("helloworld", cl)
	if rsp, err := hw.Call(ctx, &hwpb.Request{Name: "typed"}); err != nil || rsp.Msg != "Hello typed" {
		t.Fatalf("typed Call: %v %v", rsp, err)
	}
	st, err := hw.Stream(ctx, &hwpb.StreamingRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); ; i++ {
		m, err := st.Recv()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("typed Stream ended after %d messages", i)
			}
			break
		}
		if err != nil || m.Count != i {
			t.Fatalf("typed Stream message %d: %v %v", i, m, err)
		}
	}
	pp, err := hw.PingPong(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 3; i++ {
		if err := pp.Send(&hwpb.Ping{Stroke: i}); err != nil {
			t.Fatal(err)
		}
		if m, err := pp.Recv(); err != nil || m.Stroke != i {
			t.Fatalf("typed PingPong %d: %v %v", i, m, err)
		}
	}
	pp.CloseSend()
	if _, err := pp.Recv(); err != io.EOF {
		t.Fatalf("PingPong end: %v", err)
	}
}

// grpcurlLike does what `grpcurl -plaintext -d '{"name":"x"}' <proxy>
// helloworld.Helloworld/Call` does: list services and fetch the
// descriptors by server reflection, through the proxy, then call with a
// dynamic protobuf message made from JSON.
func grpcurlLike(t *testing.T, ctx context.Context, s *server) {
	t.Helper()
	conn := dialProxy(t, s)
	refl, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer refl.CloseSend()
	ask := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		t.Helper()
		if err := refl.Send(req); err != nil {
			t.Fatal(err)
		}
		rsp, err := refl.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return rsp
	}
	var listed []string
	for _, svc := range ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		listed = append(listed, svc.Name)
	}
	if !contains(listed, "helloworld.Helloworld") || !contains(listed, "store.Store") {
		t.Fatalf("reflection lists %v", listed)
	}
	fdr := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "helloworld.Helloworld"}}).GetFileDescriptorResponse()
	if fdr == nil {
		t.Fatal("reflection did not describe helloworld.Helloworld")
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range fdr.FileDescriptorProto {
		fdp := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fdp); err != nil {
			t.Fatal(err)
		}
		set.File = append(set.File, fdp)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("helloworld.Helloworld")
	if err != nil {
		t.Fatal(err)
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName("Call")
	req := dynamicpb.NewMessage(m.Input())
	if err := protojson.Unmarshal([]byte(`{"name":"x"}`), req); err != nil {
		t.Fatal(err)
	}
	rsp := dynamicpb.NewMessage(m.Output())
	if err := conn.Invoke(ctx, "/helloworld.Helloworld/Call", req, rsp); err != nil {
		t.Fatal(err)
	}
	if out, _ := protojson.Marshal(rsp); strings.ReplaceAll(string(out), " ", "") != `{"msg":"Hellox"}` {
		t.Fatalf("dynamic call: %s", out)
	}
}

// httpStream reads a server stream over plain HTTP: chunked, a JSON
// message per line.
func httpStream(t *testing.T, s *server) {
	t.Helper()
	rsp, err := http.Post(s.gateway+"/helloworld/Helloworld/Stream", "application/json", strings.NewReader(`{"count":3}`))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 || len(rsp.TransferEncoding) == 0 || rsp.TransferEncoding[0] != "chunked" {
		t.Fatalf("stream response: %d %v", rsp.StatusCode, rsp.TransferEncoding)
	}
	var lines []string
	sc := bufio.NewScanner(rsp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if strings.Join(lines, "|") != `{"count":"0"}|{"count":"1"}|{"count":"2"}` {
		t.Fatalf("stream lines %q", lines)
	}
}

// websocketStreams runs PingPong (bidirectional) and Stream over
// websockets: the first message is the request.
func websocketStreams(t *testing.T, s *server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(s.gateway, "http")

	pp, _, err := websocket.Dial(ctx, ws+"/helloworld/Helloworld/PingPong", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pp.CloseNow()
	for i := 1; i <= 3; i++ {
		msg := `{"stroke":` + string(rune('0'+i)) + `}`
		if err := pp.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := pp.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(got) != `{"stroke":"`+string(rune('0'+i))+`"}` {
			t.Fatalf("pong %d: %v %s %v", i, typ, got, err)
		}
	}
	pp.Close(websocket.StatusNormalClosure, "")

	st, _, err := websocket.Dial(ctx, ws+"/helloworld/Helloworld/Stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.CloseNow()
	if err := st.Write(ctx, websocket.MessageText, []byte(`{"count":2}`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		_, msg, err := st.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("stream over websocket ended with %v", err)
			}
			break
		}
		got = append(got, string(msg))
	}
	if strings.Join(got, "|") != `{"count":"0"}|{"count":"1"}` {
		t.Fatalf("stream over websocket: %q", got)
	}
}

// badInput: every mistake gets a clear micro error, and the service keeps
// serving.
func badInput(t *testing.T, s *server, c *cli) {
	t.Helper()
	type microError struct {
		ID     string `json:"id"`
		Code   int    `json:"code"`
		Detail string `json:"detail"`
	}
	check := func(what string, code int, body string, wantCode int, wantDetail string) {
		t.Helper()
		var e microError
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != wantCode || e.Code != wantCode || !strings.Contains(e.Detail, wantDetail) {
			t.Fatalf("%s: %d %s, want %d with %q", what, code, body, wantCode, wantDetail)
		}
	}
	code, body, _ := post(t, s.gateway+"/helloworld/Helloworld/Nope", "application/json", `{}`)
	check("unknown endpoint", code, body, 404, "service helloworld has no endpoint Helloworld.Nope; its endpoints are Helloworld.Call, Helloworld.PingPong, Helloworld.Stream")
	code, body, _ = post(t, s.gateway+"/nosuch/Foo/Bar", "application/json", `{}`)
	check("unknown service", code, body, 500, "service not found: nosuch")
	code, body, _ = post(t, s.gateway+"/helloworld/Helloworld/Call", "application/json", `{"name":5}`)
	check("wrong type", code, body, 400, "invalid request for Helloworld.Call")
	code, body, _ = post(t, s.gateway+"/helloworld/Helloworld/Stream", "application/json", `{"count":-1}`)
	check("handler's own 400", code, body, 400, "count must be between")
	if code, body := get(t, s.gateway+"/helloworld/Call?name=Again"); code != 200 || body != `{"msg":"Hello Again"}` {
		t.Fatalf("after bad input: %d %s", code, body)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"call", "nosuch", "Foo.Bar"}, 5, `Service "nosuch" not found`},
		{[]string{"call", "helloworld", "Helloworld.Nope"}, 5, "Service helloworld has no endpoint Helloworld.Nope"},
		{[]string{"call", "helloworld", "call"}, 3, `Malformed method name "call"`},
		{[]string{"call", "helloworld", "Helloworld.Stream", `{"count":2}`}, 1, "Helloworld.Stream of helloworld streams; use 'micro stream"},
		{[]string{"call", "helloworld", "Helloworld.Call", `{"name":`}, 1, "The request must be a JSON object"},
		{[]string{"get", "service", "nosuch"}, 5, `Service "nosuch" not found`},
		{[]string{"nosuch", "call"}, 1, "Unrecognized micro command: nosuch"},
		{[]string{"helloworld", "call", "--nope=1"}, 1, "Unknown flag: nope"},
		{[]string{"helloworld", "stream", "--count=many"}, 1, "Invalid value for --count"},
		{[]string{"helloworld", "nope"}, 1, `Unknown command "nope" of service helloworld`},
	} {
		_, errOut, code := c.run(tc.args...)
		if code != tc.code || !strings.HasPrefix(errOut, tc.msg) {
			t.Fatalf("micro %s: exit %d %q, want exit %d %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.msg)
		}
	}
}

// TestNodeExpiry: a service killed with SIGKILL cannot deregister; calls
// meanwhile get a quick 503, and its node leaves the registry within its
// TTL. A service stopped with SIGTERM deregisters at once.
func TestNodeExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newCLI(t, s)
	hello := startService(t, s, helloBinPath(t), "MICRO_REGISTER_TTL=2", "MICRO_REGISTER_INTERVAL=500ms")

	hello.kill(syscall.SIGKILL)
	start := time.Now()
	code, body, _ := post(t, s.gateway+"/helloworld/Helloworld/Call", "application/json", `{"name":"x"}`)
	if code != 503 || !strings.Contains(body, "refused the connection") || time.Since(start) > 5*time.Second {
		t.Fatalf("call to a dead node: %d %s after %v", code, body, time.Since(start))
	}
	testkit.Eventually(t, 20*time.Second, "the dead node to leave the registry", func() bool {
		return !contains(strings.Fields(c.ok("services")), "helloworld")
	})
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the node stayed %v with a 2s TTL", time.Since(start))
	}
	code, body, _ = post(t, s.gateway+"/helloworld/Helloworld/Call", "application/json", `{"name":"x"}`)
	if code != 500 || !strings.Contains(body, "service not found: helloworld") {
		t.Fatalf("call after expiry: %d %s", code, body)
	}
	if _, errOut, code := c.run("call", "helloworld", "Helloworld.Call"); code != 5 || !strings.HasPrefix(errOut, `Service "helloworld" not found`) {
		t.Fatalf("micro call after expiry: %d %s", code, errOut)
	}

	// SIGTERM: deregistered long before its 90s TTL.
	graceful := startService(t, s, helloBinPath(t))
	graceful.kill(syscall.SIGTERM)
	if n := nodes(t, s, "helloworld"); len(n) != 0 {
		t.Fatalf("nodes after SIGTERM: %v", n)
	}
	if !strings.Contains(graceful.out.String(), "Stopped [service] helloworld") {
		t.Fatalf("no clean stop in the log:\n%s", graceful.out.String())
	}
}

// TestLoadSharing: two nodes of helloworld share the calls; when one is
// killed, every call still succeeds on the other.
func TestLoadSharing(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	a := startService(t, s, helloBinPath(t))
	b := startService(t, s, helloBinPath(t))
	const calls = 20
	const received = "Received Helloworld.Call request"
	for i := 0; i < calls; i++ {
		if code, body := get(t, s.gateway+"/helloworld/Call?name=n"); code != 200 || body != `{"msg":"Hello n"}` {
			t.Fatalf("call %d: %d %s", i, code, body)
		}
	}
	testkit.Eventually(t, 20*time.Second, "both nodes to log their calls", func() bool { return a.count(received)+b.count(received) == calls })
	if na, nb := a.count(received), b.count(received); na < calls/3 || nb < calls/3 {
		t.Fatalf("calls per node: %d and %d, want them shared", na, nb)
	}

	before := b.count(received)
	a.kill(syscall.SIGKILL)
	for i := 0; i < calls; i++ {
		if code, body := get(t, s.gateway+"/helloworld/Call?name=n"); code != 200 || body != `{"msg":"Hello n"}` {
			t.Fatalf("call %d with a node killed: %d %s", i, code, body)
		}
	}
	testkit.Eventually(t, 20*time.Second, "the survivor to log every call", func() bool { return b.count(received) == before+calls })
}
