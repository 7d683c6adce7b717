package gateway

import (
	"net/http"
	"strings"
	"testing"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/clientaddr"
)

// TestCredentialsReachTheCall: the Authorization header, else the
// micro-token cookie, travels as metadata, and the client's address is the
// connection's whatever headers claim.
func TestCredentialsReachTheCall(t *testing.T) {
	var seen string
	e := newEnv(t, Config{Identify: func(r *http.Request) (string, error) {
		seen = Authorization(r)
		return "", nil
	}})

	e.do(t, "POST", "/store/Store/Tables", `{}`, "Authorization", "Bearer abc",
		"Micro-Client-Address", "203.0.113.9:1").want(t, 200, `{"tables":["micro",""]}`)
	md := e.store.lastMetadata()
	if md[metadata.Authorization] != "Bearer abc" || seen != "Bearer abc" {
		t.Fatalf("authorization: metadata %q, Identify saw %q", md[metadata.Authorization], seen)
	}
	if addr := md[metadata.ClientAddress]; !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("client address %q: not the connection's", addr)
	}

	e.do(t, "POST", "/store/Store/Tables", `{}`, "Cookie", TokenCookie+"=xyz").want(t, 200, `{"tables":["micro",""]}`)
	if got := e.store.lastMetadata()[metadata.Authorization]; got != "Bearer xyz" || seen != "Bearer xyz" {
		t.Fatalf("cookie: metadata %q, Identify saw %q", got, seen)
	}
	// The cookie counts from a page of this host (the dashboard on another
	// port), not from another site's page that the browser attached it to.
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Cookie", TokenCookie+"=xyz", "Origin", "http://127.0.0.1:8082").want(t, 200, `{"tables":["micro",""]}`)
	if got := e.store.lastMetadata()[metadata.Authorization]; got != "Bearer xyz" {
		t.Fatalf("cookie from this host's page: %q", got)
	}
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Cookie", TokenCookie+"=xyz", "Origin", "https://evil.example").want(t, 200, `{"tables":["micro",""]}`)
	if got, ok := e.store.lastMetadata()[metadata.Authorization]; ok {
		t.Fatalf("cookie honoured for another site's page: %q", got)
	}
	// The header wins over the cookie.
	e.do(t, "POST", "/store/Store/Tables", `{}`, "Cookie", TokenCookie+"=xyz", "Authorization", "Bearer abc").want(t, 200, `{"tables":["micro",""]}`)
	if got := e.store.lastMetadata()[metadata.Authorization]; got != "Bearer abc" {
		t.Fatalf("header and cookie: %q", got)
	}
	e.do(t, "POST", "/store/Store/Tables", `{}`).want(t, 200, `{"tables":["micro",""]}`)
	if got, ok := e.store.lastMetadata()[metadata.Authorization]; ok {
		t.Fatalf("no credentials, yet authorization %q", got)
	}
}

// TestJSONLabelledAsForm: curl -d '{...}' labels JSON as a form.
func TestJSONLabelledAsForm(t *testing.T) {
	e := newEnv(t, Config{})
	e.do(t, "POST", "/store/Store/Tables", `{"database":"curl"}`,
		"Content-Type", "application/x-www-form-urlencoded").want(t, 200, `{"tables":["micro","curl"]}`)
}

// TestTrustedProxyForwardsTheClient: X-Forwarded-For names the client only
// when the connection comes from a trusted proxy.
func TestTrustedProxyForwardsTheClient(t *testing.T) {
	trusted, err := clientaddr.ParseProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{TrustedProxies: trusted})
	e.do(t, "POST", "/store/Store/Tables", `{}`, "X-Forwarded-For", "127.0.0.1, 198.51.100.7").want(t, 200, `{"tables":["micro",""]}`)
	if addr := e.store.lastMetadata()[metadata.ClientAddress]; addr != "198.51.100.7" {
		t.Fatalf("behind a trusted proxy: client address %q", addr)
	}

	untrusted, _ := clientaddr.ParseProxies([]string{"10.0.0.0/8"})
	e = newEnv(t, Config{TrustedProxies: untrusted})
	e.do(t, "POST", "/store/Store/Tables", `{}`, "X-Forwarded-For", "198.51.100.7").want(t, 200, `{"tables":["micro",""]}`)
	if addr := e.store.lastMetadata()[metadata.ClientAddress]; !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("header from an untrusted peer believed: %q", addr)
	}
}
