package cli

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8081":             "127.0.0.1:8081",
		"localhost:8081":             "127.0.0.1:8081",
		"LOCALHOST:8081":             "127.0.0.1:8081",
		"[::1]:8081":                 "127.0.0.1:8081",
		":8081":                      "127.0.0.1:8081",
		"http://127.0.0.1:8081":      "127.0.0.1:8081",
		"api.example.com:8081":       "api.example.com:8081",
		"https://API.example.com":    "api.example.com:443",
		"api.example.com":            "api.example.com:443",
		"https://api.example.com:81": "api.example.com:81",
	} {
		if got := serverKey(in); got != want {
			t.Errorf("serverKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestLoginBelongsToTheServer: one login against 127.0.0.1 serves
// MICRO_PROXY=localhost with another env selected, and a tokens file an
// older CLI wrote (the address as typed) is still read.
func TestLoginBelongsToTheServer(t *testing.T) {
	dir := isolate(t)
	addr := authServer(t)
	_, port, _ := net.SplitHostPort(addr)
	mustRun(t, "login", "--username", "admin", "--password", "micro")
	mustRun(t, "env", "add", "lab", "10.0.0.5:8081")
	mustRun(t, "env", "set", "lab")
	t.Setenv("MICRO_PROXY", "localhost:"+port)
	if out := mustRun(t, "user"); out != "admin\n" {
		t.Fatalf("user via localhost with env lab: %q", out)
	}
	if out := strings.TrimSpace(mustRun(t, "user", "token")); out == "" {
		t.Fatal("no token via localhost")
	}

	// An older CLI's line, keyed by "localhost:<port>", is found from
	// 127.0.0.1 too.
	key, tok := savedLine(t, dir)
	b, _ := json.Marshal(tok)
	old := "micro://localhost:" + port + "/micro/admin:" + base64.StdEncoding.EncodeToString(b) + "\n"
	if err := os.WriteFile(filepath.Join(dir, tokensFileName), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if key != "micro://127.0.0.1:"+port+"/micro/admin" {
		t.Fatalf("saved under %q", key)
	}
	t.Setenv("MICRO_PROXY", "127.0.0.1:"+port)
	if out := mustRun(t, "user"); out != "admin\n" {
		t.Fatalf("user from an old tokens file: %q", out)
	}
	mustRun(t, "logout")
	wantFail(t, 1, "You are not logged in", "user")
}
