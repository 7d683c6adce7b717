package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestGatewayBadInput: every mistake gets a micro error with the right status.
func TestGatewayBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	admin := s.adminToken(t)
	post := func(t *testing.T, url, _, body string) (int, string, http.Header) {
		t.Helper()
		code, b := postAs(t, admin, url, body)
		return code, b, nil
	}

	check := func(name string, code int, body string, wantCode int, wantDetail string) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: status %d, want %d: %s", name, code, wantCode, body)
		}
		var e struct {
			ID     string `json:"id"`
			Code   int    `json:"code"`
			Detail string `json:"detail"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%s: body is not a micro error: %s", name, body)
		}
		if e.Code != wantCode || e.Status != http.StatusText(wantCode) || !strings.Contains(e.Detail, wantDetail) {
			t.Fatalf("%s: %s, want code %d and detail containing %q", name, body, wantCode, wantDetail)
		}
	}

	code, body, _ := post(t, s.gateway+"/store/Store/Read", "application/json", `{"key":`)
	check("malformed JSON", code, body, 400, "JSON")

	code, body, _ = post(t, s.gateway+"/store/Store/Write", "application/json", `{"record":{"key":"","value":"aGk="}}`)
	check("empty key", code, body, 400, "key")

	code, body, _ = post(t, s.gateway+"/store/Store/Read", "application/json", `{"key":"nope"}`)
	check("missing key", code, body, 404, "not found")

	code, body, _ = post(t, s.gateway+"/nosuchservice/Foo/Bar", "application/json", `{}`)
	check("unknown service", code, body, 500, "service not found")

	code, body, _ = post(t, s.gateway+"/store/Store/Teleport", "application/json", `{}`)
	if code != 404 && code != 501 {
		t.Fatalf("unknown endpoint: %d %s", code, body)
	}

	big := `{"key":"k","pad":"` + strings.Repeat("x", 11<<20) + `"}`
	code, body, _ = post(t, s.gateway+"/store/Store/Read", "application/json", big)
	check("body over the limit", code, body, 413, "")

	// CORS is always on.
	req, _ := http.NewRequest(http.MethodOptions, s.gateway+"/store/Store/Read", nil)
	req.Header.Set("Origin", "http://example.test")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 200 || rsp.Header.Get("Access-Control-Allow-Origin") != "http://example.test" {
		t.Fatalf("CORS preflight: %d %v", rsp.StatusCode, rsp.Header)
	}

	// A write with no response body is 204 with nothing in it.
	code, body, _ = post(t, s.gateway+"/store/Store/Write", "application/json", `{"record":{"key":"k","value":"aGk="}}`)
	if code != 204 || body != "" {
		t.Fatalf("write: %d %q", code, body)
	}
}
