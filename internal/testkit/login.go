package testkit

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// AdminToken logs in as a fresh server's default admin (admin/micro,
// namespace micro) through the gateway at base ("http://host:port" or
// https) with c, and returns the access token.
func AdminToken(tb testing.TB, c *http.Client, base string) string {
	tb.Helper()
	rsp, err := c.Post(base+"/auth/Auth/Token", "application/json",
		strings.NewReader(`{"id":"admin","secret":"micro","options":{"namespace":"micro"}}`))
	if err != nil {
		tb.Fatal(err)
	}
	defer rsp.Body.Close()
	var out struct {
		Token struct {
			AccessToken string `json:"access_token"`
		} `json:"token"`
	}
	if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || rsp.StatusCode != http.StatusOK || out.Token.AccessToken == "" {
		tb.Fatalf("admin login through the gateway at %s: %s %v", base, rsp.Status, err)
	}
	return out.Token.AccessToken
}
