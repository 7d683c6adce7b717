package gateway

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

func TestInfoHealthFavicon(t *testing.T) {
	e := newEnv(t, Config{Version: "v1.2.3"})
	r := e.do(t, "GET", "/", "")
	r.want(t, 200, `{"version":"v1.2.3"}`)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	e.do(t, "GET", "/health", "").want(t, 200, `{"status":"ok"}`)
	e.do(t, "GET", "/favicon.ico", "").want(t, 200, ``)

	e = newEnv(t, Config{Info: func() map[string]any { return map[string]any{"data": "micro.db"} }})
	e.do(t, "GET", "/", "").want(t, 200, `{"data":"micro.db","version":"latest"}`)
}

func TestCORS(t *testing.T) {
	e := newEnv(t, Config{})
	check := func(r response, origin string, credentials bool) {
		t.Helper()
		creds := ""
		if credentials {
			creds = "true"
		}
		for k, v := range map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Credentials": creds,
			"Access-Control-Allow-Methods":     "POST, PATCH, GET, OPTIONS, PUT, DELETE",
			"Access-Control-Allow-Headers":     "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Micro-Namespace",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}
	r := e.do(t, "OPTIONS", "/store/Store/Read", "", "Origin", "https://app.example")
	r.want(t, 200, ``)
	// Another site's page may call, but not with the user's cookie.
	check(r, "https://app.example", false)
	// Preflight never reaches routing, whatever the path.
	e.do(t, "OPTIONS", "/no/such//path", "").want(t, 200, ``)
	check(e.do(t, "GET", "/", ""), "*", false)
	// Errors carry CORS too, or browsers would hide them. A page of the
	// gateway's own host (the dashboard, on another port) gets credentials.
	r = e.do(t, "POST", "/nosuch/Foo/Bar", "{}", "Origin", "http://127.0.0.1:3000")
	check(r, "http://127.0.0.1:3000", true)
}

func TestUnaryRoundTrip(t *testing.T) {
	e := newEnv(t, Config{})
	// An empty reply is a 204.
	r := e.do(t, "POST", "/store/Store/Write", `{"record":{"key":"a","value":"aGk="}}`)
	r.want(t, 204, ``)

	want := `{"records":[{"key":"a","value":"aGk=","expiry":"3600","metadata":{},"revision":"0"}]}`
	r = e.do(t, "POST", "/store/Store/Read", `{"key":"a"}`, "Content-Type", "application/json; charset=utf-8")
	r.want(t, 200, want)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	// GET: the query is the request.
	e.do(t, "GET", "/store/Store/Read?key=a&options.limit=1", "").want(t, 200, want)
	// Lower-case path segments map to the same endpoint.
	e.do(t, "POST", "/store/store/read", `{"key":"a"}`).want(t, 200, want)
	// Unknown fields are ignored, as Micro's jsonpb did.
	e.do(t, "POST", "/store/Store/Read", `{"key":"a","future":1}`).want(t, 200, want)
	// An empty body is {}.
	e.do(t, "POST", "/store/Store/Tables", "").want(t, 200, `{"tables":["micro",""]}`)
}

func TestQueryMergedUnderBody(t *testing.T) {
	e := newEnv(t, Config{})
	e.do(t, "POST", "/store/Store/Tables?database=q", `{}`).want(t, 200, `{"tables":["micro","q"]}`)
	e.do(t, "POST", "/store/Store/Tables?database=q", `{"database":"body"}`).want(t, 200, `{"tables":["micro","body"]}`)
	e.do(t, "PUT", "/store/Store/Tables?database=q", ``).want(t, 200, `{"tables":["micro","q"]}`)
	// Forms are objects of strings.
	e.do(t, "POST", "/store/Store/Tables?database=q", `database=form`,
		"Content-Type", "application/x-www-form-urlencoded").want(t, 200, `{"tables":["micro","form"]}`)
	e.do(t, "POST", "/store/Store/Tables", `database=form`,
		"Content-Type", "application/x-www-form-urlencoded").want(t, 200, `{"tables":["micro","form"]}`)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct {
		method, target, body, detail string
		header                       []string
	}{
		{"POST", "/store/Store/Read", `{"key": "abc`, "invalid JSON body: unexpected end of JSON input at offset 12", nil},
		{"POST", "/store/Store/Read", `{"key":}`, "invalid JSON body: invalid character '}' looking for beginning of value at offset 8", nil},
		{"POST", "/store/Store/Read", `{} x`, "invalid JSON body: invalid character 'x' after top-level value at offset 4", nil},
		{"POST", "/store/Store/Read", `["a"]`, "invalid JSON body: want an object, got an array", nil},
		{"POST", "/store/Store/Read", `"a"`, "invalid JSON body: want an object, got a string", nil},
		{"POST", "/store/Store/Read?key=a", `nope`, "invalid JSON body: invalid character 'o' in literal null (expecting 'u') at offset 2", nil},
		{"GET", "/store/Store/Read?a[b=1", "", `invalid query key "a[b": missing ]`, nil},
		{"GET", "/store//Read", "", "path has an empty segment", nil},
		{"GET", "/store/Store/../Read", "", `path segment ".." is not allowed`, nil},
		{"GET", "/store/St%20ore/Read", "", `path segment "St ore" has a character outside [A-Za-z0-9._-]`, nil},
		{"GET", "/store/Store/Read", "", `invalid Timeout header "soon": want a positive number of nanoseconds`, []string{"Timeout", "soon"}},
	} {
		r := e.do(t, tc.method, tc.target, tc.body, tc.header...)
		e := errors.BadRequest("go.micro.api", "%s", tc.detail)
		if r.code != 400 || strings.TrimSpace(r.body) != e.Error() {
			t.Errorf("%s %s %q: got %d %s, want 400 %s", tc.method, tc.target, tc.body, r.code, r.body, e.Error())
		}
	}
	// A value of the wrong type fails in the service's decoder: still 400.
	r := e.do(t, "POST", "/store/Store/Read", `{"key":1}`)
	if r.code != 400 || !strings.Contains(r.body, `"code":400`) {
		t.Fatalf("wrong field type: %d %s", r.code, r.body)
	}
	e.do(t, "PROPFIND", "/store/Store/Read", "").want(t, 405,
		`{"id":"go.micro.api","code":405,"detail":"method PROPFIND not allowed","status":"Method Not Allowed"}`)
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 16})
	want := `{"id":"go.micro.api","code":413,"detail":"request body too large: the limit is 16 bytes","status":"Request Entity Too Large"}`
	body := `{"key":"0123456789abcdef"}`
	e.do(t, "POST", "/store/Store/Read", body).want(t, 413, want)

	// Without a Content-Length (chunked), the limit holds while reading.
	req, _ := http.NewRequest("POST", e.srv.URL+"/store/Store/Read", io.MultiReader(strings.NewReader(body)))
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || string(b) != want {
		t.Fatalf("chunked: %d %s", res.StatusCode, b)
	}
	// At the limit is fine.
	e.do(t, "POST", "/store/Store/Read", `{"key":"012345"}`).want(t, 404,
		`{"id":"store","code":404,"detail":"not found","status":"Not Found"}`)
}

func TestErrorStatus(t *testing.T) {
	e := newEnv(t, Config{})
	// A handler's micro error arrives as is, its code the HTTP status.
	r := e.do(t, "POST", "/store/Store/Read", `{"key":"missing"}`)
	r.want(t, 404, `{"id":"store","code":404,"detail":"not found","status":"Not Found"}`)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	e.do(t, "POST", "/store/Store/Write", `{}`).want(t, 400,
		`{"id":"store","code":400,"detail":"missing key","status":"Bad Request"}`)

	// Unknown service: Micro's exact answer.
	e.do(t, "POST", "/nosuch/Foo/Bar", `{}`).want(t, 500,
		`{"id":"micro","code":500,"detail":"service not found","status":"Internal Server Error"}`)
	newEnv(t, Config{Router: nil}).do(t, "GET", "/x", "").want(t, 500,
		`{"id":"micro","code":500,"detail":"service not found","status":"Internal Server Error"}`)

	// Unknown endpoint of a known service: the router's 404 passes through…
	e.do(t, "POST", "/store/Store/Nope", `{}`).want(t, 404,
		`{"id":"micro","code":404,"detail":"service store has no endpoint Store.Nope","status":"Not Found"}`)
	// …and gRPC's own "unknown service" becomes a 404 too.
	e.do(t, "POST", "/store/Nope/Read", `{}`).want(t, 404,
		`{"id":"go.micro.api","code":404,"detail":"endpoint not found: unknown service store.Nope","status":"Not Found"}`)
}

func TestNonMicroErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{io.ErrUnexpectedEOF, `{"id":"go.micro.api","code":500,"detail":"error during request: unexpected EOF","status":"Internal Server Error"}`},
		{errors.Unauthorized("auth", "token expired"), `{"id":"auth","code":401,"detail":"token expired","status":"Unauthorized"}`},
	} {
		e := newEnv(t, Config{Router: RouterFunc(func(context.Context, string, string, string) (Route, error) {
			return Route{Conn: failConn{tc.err}}, nil
		})})
		r := e.do(t, "POST", "/x/Y/Z", `{}`)
		if strings.TrimSpace(r.body) != tc.want {
			t.Errorf("got %d %s, want %s", r.code, r.body, tc.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t, Config{})
	start := time.Now()
	r := e.do(t, "POST", "/store/Store/Tables", `{"database":"slow"}`, "Timeout", "50000000")
	if r.code != 408 || !strings.Contains(r.body, `"code":408`) {
		t.Fatalf("got %d %s", r.code, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	e = newEnv(t, Config{Timeout: 50 * time.Millisecond})
	if r := e.do(t, "POST", "/store/Store/Tables", `{"database":"slow"}`); r.code != 408 {
		t.Fatalf("default timeout: %d %s", r.code, r.body)
	}
	// A Go duration works too.
	if r := e.do(t, "POST", "/store/Store/Tables", `{"database":"slow"}`, "Timeout", "20ms"); r.code != 408 {
		t.Fatalf("duration timeout: %d %s", r.code, r.body)
	}
	// A Timeout header longer than Config.Timeout is the call's bound.
	start = time.Now()
	if r := e.do(t, "POST", "/store/Store/Tables", `{"database":"slow"}`, "Timeout", "300ms"); r.code != 408 {
		t.Fatalf("longer timeout: %d %s", r.code, r.body)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("a call given 300ms was cut off after %v", d)
	}
}

func TestStreaming(t *testing.T) {
	e := newEnv(t, Config{})
	for _, k := range []string{"a", "b", "c"} {
		e.do(t, "POST", "/store/Store/Write", `{"record":{"key":"`+k+`"}}`).want(t, 204, ``)
	}
	r := e.do(t, "POST", "/store/Store/List", `{}`)
	r.want(t, 200, "{\"keys\":[\"a\"]}\n{\"keys\":[\"b\"]}\n{\"keys\":[\"c\"]}")
	if cl := r.header.Get("Content-Length"); cl != "" {
		t.Fatalf("stream has Content-Length %s", cl)
	}
	// An error before the first message keeps its status.
	e.do(t, "GET", "/store/Store/List?options[prefix]=none", "").want(t, 403,
		`{"id":"store","code":403,"detail":"no listing for you","status":"Forbidden"}`)
	// An error after it becomes the last line.
	e.do(t, "GET", "/store/Store/List?options.prefix=fail", "").want(t, 200,
		"{\"keys\":[\"a\"]}\n"+`{"id":"store","code":500,"detail":"disk on fire","status":"Internal Server Error"}`)

	// Messages are flushed as they come: the first arrives while the
	// service still holds the second.
	res, err := e.srv.Client().Post(e.srv.URL+"/store/Store/List?options.prefix=gate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "{\"keys\":[\"a\"]}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(e.store.gate)
	rest, _ := io.ReadAll(br)
	if string(rest) != "{\"keys\":[\"b\"]}\n{\"keys\":[\"c\"]}\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestClientStream(t *testing.T) {
	e := newEnv(t, Config{})
	e.do(t, "POST", "/store/BlobStore/Write", `{"key":"k","blob":"aGk="}`).want(t, 204, ``)
	if got := <-e.blob.got; got.Key != "k" || string(got.Blob) != "hi" {
		t.Fatalf("got %v", got)
	}
}

func TestHeadersAsMetadata(t *testing.T) {
	e := newEnv(t, Config{})
	e.do(t, "POST", "/store/Store/Tables", `{}`,
		"X-Foo", "bar", "X-Multi", "1", "X-Multi", "2", "Authorization", "Bearer tok",
		"X-Utf8", "h\u00e9", "Grpc-Timeout", "1S",
	).want(t, 200, `{"tables":["micro",""]}`)
	md := e.store.lastMetadata()
	for k, v := range map[string]string{
		"x-foo": "bar", "x-multi": "1,2", "authorization": "Bearer tok", "micro-namespace": "micro",
	} {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, md[k], v, md)
		}
	}
	for _, k := range []string{"x-utf8", "host", "content-length"} {
		if v, ok := md[k]; ok {
			t.Errorf("metadata %s = %q forwarded", k, v)
		}
	}
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Micro-Namespace", "foo").want(t, 200, `{"tables":["foo",""]}`)
}

func TestHeaderMetadataDropsHopByHop(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"Connection", "Keep-Alive", "Upgrade", "Te", "Transfer-Encoding", "Host", "Content-Length", "X-Private", "X-Kept", "Bad Key", "X-Ctl"} {
		h.Set(k, "v")
	}
	h.Set("Connection", "keep-alive, X-Private")
	h.Set("X-Ctl", "a\x01b")
	md := headerMetadata(h)
	if len(md) != 1 || len(md["x-kept"]) != 1 || md["x-kept"][0] != "v" {
		t.Fatalf("got %v", md)
	}
}

func TestIdentify(t *testing.T) {
	e := newEnv(t, Config{Identify: func(r *http.Request) (string, error) {
		switch r.Header.Get("Authorization") {
		case "":
			return "", nil
		case "Bearer good":
			return "tenant", nil
		}
		return "", errors.Unauthorized("auth", "invalid token")
	}})
	e.do(t, "POST", "/store/Store/Tables", `{}`).want(t, 200, `{"tables":["micro",""]}`)
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Micro-Namespace", "hdr").want(t, 200, `{"tables":["hdr",""]}`)
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Authorization", "Bearer good").want(t, 200, `{"tables":["tenant",""]}`)
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Authorization", "Bearer bad").want(t, 401,
		`{"id":"auth","code":401,"detail":"invalid token","status":"Unauthorized"}`)
}

func TestProtoPassthrough(t *testing.T) {
	e := newEnv(t, Config{})
	in, _ := proto.Marshal(&pb.TablesRequest{Database: "p"})
	r := e.do(t, "POST", "/store/Store/Tables", string(in), "Content-Type", "application/protobuf")
	if r.code != 200 || r.header.Get("Content-Type") != "application/protobuf" {
		t.Fatalf("got %d %s", r.code, r.header.Get("Content-Type"))
	}
	var out pb.TablesResponse
	if err := proto.Unmarshal([]byte(r.body), &out); err != nil || strings.Join(out.Tables, ",") != "micro,p" {
		t.Fatalf("got %v, %v", out.Tables, err)
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, Config{Router: RouterFunc(func(context.Context, string, string, string) (Route, error) {
		panic("router bug")
	})})
	e.do(t, "POST", "/x/Y/Z", `{}`).want(t, 500,
		`{"id":"go.micro.api","code":500,"detail":"internal error","status":"Internal Server Error"}`)
}
