package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
)

// failConn is a connection whose every call fails with err.
type failConn struct{ err error }

func (c failConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error { return c.err }

func (c failConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, c.err
}

// FuzzGateway feeds arbitrary requests to a gateway in front of the real
// store server: whatever comes in, the answer is a response, never a panic,
// and every error is a micro error.
func FuzzGateway(f *testing.F) {
	for _, s := range [][4]string{
		{"POST", "/store/Store/Read", "", `{"key":"a"}`},
		{"GET", "/store/Store/Read", "key=a&options[limit]=1", ""},
		{"POST", "/store/Store/List", "options.prefix=x", `{"options":{"limit":"2"}}`},
		{"POST", "/store/Store/Write", "", `{"record":{"key":"k","value":"not base64"}}`},
		{"DELETE", "/store/Store/Delete", "key=1", `{`},
		{"PATCH", "/v1/store/Read", "a[]=1&a[b]=2", `[]`},
		{"GET", "/", "", ""},
		{"OPTIONS", "/x", "", ""},
		{"BREW", "/store", "%zz", "\xff"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	e := newEnv(f, Config{MaxBodyBytes: 1 << 10})
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = "POST"
		}
		req := (&http.Request{
			Method: method,
			URL:    &url.URL{Path: path, RawQuery: query},
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(body)),
		}).WithContext(context.Background())
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, req)
		if w.Code >= 400 {
			var me struct {
				Code int `json:"code"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || me.Code == 0 {
				t.Fatalf("%s %s?%s %q: %d with body %q", method, path, query, body, w.Code, w.Body.String())
			}
		}
	})
}
