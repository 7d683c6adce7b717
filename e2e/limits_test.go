package e2e

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestAnswerOverTheMessageLimit: an answer that grew past the 32 MiB a
// message may be is a 413 saying to page, through the gateway and the CLI
// alike; as a 429 clients would retry it forever.
func TestAnswerOverTheMessageLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	token := s.adminToken(t)
	value := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 1<<20)))
	for i := range 40 {
		body := fmt.Sprintf(`{"record":{"key":"big/%02d","value":%q}}`, i, value)
		if code, rsp := postAs(t, token, s.gateway+"/store/Store/Write", body); code/100 != 2 {
			t.Fatalf("write %d: %d %s", i, code, rsp)
		}
	}
	code, body := postAs(t, token, s.gateway+"/store/Store/Read", `{"key":"big/","options":{"prefix":true}}`)
	if code != 413 || !strings.Contains(body, "limit and offset") {
		t.Fatalf("read of 40 MiB by prefix: %d %.300s", code, body)
	}
	// A page of it is fine.
	code, body = postAs(t, token, s.gateway+"/store/Store/Read", `{"key":"big/","options":{"prefix":true,"limit":10}}`)
	if code != 200 {
		t.Fatalf("read of 10 by prefix: %d %.300s", code, body)
	}
	_, errOut, exit := newAdminCLI(t, s).run("store", "read", "--prefix", "big/")
	if exit == 0 || !strings.Contains(errOut, "limit and offset") {
		t.Fatalf("CLI read of 40 MiB by prefix: exit %d %.300s", exit, errOut)
	}
}
