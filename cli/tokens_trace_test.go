package cli

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	microclient "micro.dev/micro/framework/client"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node"
	tracepb "micro.dev/micro/proto/trace"
)

// TestRefreshMakesNoTrace: against a real node recording traces, the login
// is traced (the user asked for it) but the token refresh a later command
// does on its own is not, while that command's own call is.
func TestRefreshMakesNoTrace(t *testing.T) {
	dir := isolate(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Start(context.Background(), node.Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: quiet, Trace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	t.Setenv("MICRO_PROXY", n.ProxyAddr())
	mustRun(t, "login", "--username", "admin", "--password", "micro")

	key, tok := savedLine(t, dir)
	tok.Expiry = time.Now().Add(10 * time.Second).Unix()
	if err := updateTokens(filepath.Join(dir, tokensFileName), key, &tok); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "store", "write", "refreshed", "yes")
	if _, saved := savedLine(t, dir); saved.RefreshToken == tok.RefreshToken {
		t.Fatal("the command did not refresh the login")
	}

	c, err := microclient.New(microclient.Options{Proxy: n.ProxyAddr(), ID: "admin", Secret: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	traces := tracepb.NewTraceClient(c.Conn())
	count := func(l *tracepb.ListResponse, name string) int {
		k := 0
		for _, tr := range l.GetTraces() {
			if strings.Contains(tr.GetName(), name) {
				k++
			}
		}
		return k
	}
	// Spans are exported in order: once the write's trace is listed, a
	// trace of the refresh before it would be too.
	var list *tracepb.ListResponse
	testkit.Eventually(t, 20*time.Second, "the store write traced", func() bool {
		list, err = traces.List(context.Background(), &tracepb.ListRequest{Limit: 1000})
		return err == nil && count(list, "Store/Write") == 1
	})
	if got := count(list, "Auth/Token"); got != 1 {
		for _, tr := range list.GetTraces() {
			t.Logf("trace %s %s %s", tr.GetTraceId(), tr.GetService(), tr.GetName())
		}
		t.Fatalf("%d traces of Auth/Token, want the login's alone", got)
	}
}
