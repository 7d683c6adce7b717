package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	pb "micro.dev/micro/proto/store"
)

func dialWS(t *testing.T, e *env, path string, header http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"micro"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readWS(t *testing.T, c *websocket.Conn) (websocket.MessageType, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	return typ, string(b), err
}

func writeWS(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// TestWebsocketServerStream: the first message is the request; each reply
// is a text message; the socket closes normally at the end.
func TestWebsocketServerStream(t *testing.T) {
	e := newEnv(t, Config{})
	e.store.data["a"], e.store.data["b"] = []byte("1"), []byte("2")
	c := dialWS(t, e, "/store/Store/List", http.Header{"X-Trace": {"t1"}})
	if c.Subprotocol() != "micro" {
		t.Fatalf("subprotocol %q, want the offered one echoed", c.Subprotocol())
	}
	writeWS(t, c, `{"options":{"prefix":""}}`)
	var keys []string
	for {
		typ, msg, err := readWS(t, c)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("stream ended with %v", err)
			}
			break
		}
		if typ != websocket.MessageText {
			t.Fatalf("message type %v, want text", typ)
		}
		var rsp pb.ListResponse
		if err := json.Unmarshal([]byte(msg), &rsp); err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		keys = append(keys, rsp.Keys...)
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Fatalf("keys %v", keys)
	}
	if md := e.store.lastMetadata(); md["x-trace"] != "t1" || md["micro-namespace"] != "micro" {
		t.Fatalf("metadata of the call: %v", md)
	}
}

// TestWebsocketError: an error is the last message, and the close code is
// 4000 + its HTTP code.
func TestWebsocketError(t *testing.T) {
	e := newEnv(t, Config{})
	e.store.data["a"], e.store.data["b"] = []byte("1"), []byte("2")
	c := dialWS(t, e, "/store/Store/List", nil)
	writeWS(t, c, `{"options":{"prefix":"fail"}}`)
	if _, msg, err := readWS(t, c); err != nil || !strings.Contains(msg, `"keys":["a"]`) {
		t.Fatalf("first message %q %v", msg, err)
	}
	if _, msg, err := readWS(t, c); err != nil || !strings.Contains(msg, `"code":500`) || !strings.Contains(msg, "disk on fire") {
		t.Fatalf("error message %q %v", msg, err)
	}
	_, _, err := readWS(t, c)
	if got := websocket.CloseStatus(err); got != 4500 {
		t.Fatalf("close status %d (%v), want 4500", got, err)
	}

	// A request that is not a JSON object is refused the same way.
	c = dialWS(t, e, "/store/Store/List", nil)
	writeWS(t, c, `[1]`)
	if _, msg, _ := readWS(t, c); !strings.Contains(msg, `"code":400`) {
		t.Fatalf("bad request answer %q", msg)
	}
	if _, _, err := readWS(t, c); websocket.CloseStatus(err) != 4400 {
		t.Fatalf("close status of a bad request: %v", err)
	}
}

// TestWebsocketClientStream: the first message and every later one go
// into the stream, as the service sees.
func TestWebsocketClientStream(t *testing.T) {
	e := newEnv(t, Config{})
	c := dialWS(t, e, "/store/BlobStore/Write", nil)
	writeWS(t, c, `{"blob":"YQ=="}`)
	writeWS(t, c, `{"blob":"Yg=="}`)
	for _, want := range []string{"a", "b"} {
		select {
		case got := <-e.blob.got:
			if string(got.Blob) != want {
				t.Fatalf("blob %q, want %q", got.Blob, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %q did not reach the service", want)
		}
	}
}

// TestWebsocketUnary: a websocket to an endpoint that does not stream is a
// plain 400.
func TestWebsocketUnary(t *testing.T) {
	e := newEnv(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, rsp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/store/Store/Read", nil)
	if err == nil || rsp == nil || rsp.StatusCode != 400 {
		t.Fatalf("dial: %v %v", rsp, err)
	}
}

// TestVersionFallback: /v1/{service}/{endpoint} calls {service} when no
// v1.{service} is there (micro-js-client's paths), and v1.{service} when
// it is.
func TestVersionFallback(t *testing.T) {
	e := newEnv(t, Config{})
	e.store.data["k"] = []byte("v")
	e.do(t, "POST", "/v1/store/Read", `{"key":"k"}`).want(t, 200, `{"records":[{"key":"k","value":"dg==","expiry":"3600","metadata":{},"revision":"0"}]}`)
	r := e.do(t, "POST", "/v1/nosuch/Read", `{}`)
	if r.code != 500 || !strings.Contains(r.body, "service not found") {
		t.Fatalf("unknown versioned service: %d %s", r.code, r.body)
	}

	var asked []string
	base := testRouter(e.conn)
	e2 := newEnv(t, Config{Router: RouterFunc(func(ctx context.Context, ns, service, endpoint string) (Route, error) {
		asked = append(asked, service)
		if service == "v1.store" {
			service = "store"
		}
		return base.Route(ctx, ns, service, endpoint)
	})})
	e2.store.data["k"] = []byte("v")
	e2.do(t, "POST", "/v1/store/Read", `{"key":"k"}`)
	if strings.Join(asked, ",") != "v1.store" {
		t.Fatalf("asked for %v, want v1.store only when it exists", asked)
	}
}

// TestFormLabelledJSON: `curl -d '{"key":"k"}'` labels its JSON body a
// form; it is read as JSON. A real form is still a form.
func TestFormLabelledJSON(t *testing.T) {
	e := newEnv(t, Config{})
	e.store.data["k"] = []byte("v")
	form := "application/x-www-form-urlencoded"
	e.do(t, "POST", "/store/Store/Read", `{"key":"k"}`, "Content-Type", form).
		want(t, 200, `{"records":[{"key":"k","value":"dg==","expiry":"3600","metadata":{},"revision":"0"}]}`)
	e.do(t, "POST", "/store/Store/Read", `key=k`, "Content-Type", form).
		want(t, 200, `{"records":[{"key":"k","value":"dg==","expiry":"3600","metadata":{},"revision":"0"}]}`)
	// Broken JSON sent the same way is named as broken JSON, not read as a
	// form with one odd field (which the service would answer with a
	// misleading "key is required").
	e.do(t, "POST", "/store/Store/Read", `{"key":"k"`, "Content-Type", form).
		want(t, 400, `{"id":"go.micro.api","code":400,"detail":"invalid JSON body: unexpected end of JSON input at offset 10","status":"Bad Request"}`)
	e.do(t, "POST", "/store/Store/Read", ` [1,`, "Content-Type", form).
		want(t, 400, `{"id":"go.micro.api","code":400,"detail":"invalid JSON body: unexpected end of JSON input at offset 4","status":"Bad Request"}`)
}
