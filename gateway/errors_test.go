package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCallerMistakesLoggedAtDebug: at the default level a caller's
// mistakes (a missing service, which Micro answers with a 500, a missing
// endpoint, a 4xx) write nothing, so calling them in a loop cannot fill
// the log; the server's own faults are logged at warn.
func TestCallerMistakesLoggedAtDebug(t *testing.T) {
	logs := &logBuffer{}
	info := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newEnv(t, Config{Logger: info})
	for _, c := range []struct{ path, body string }{
		{"/nosuch/Foo/Bar", `{}`},
		{"/v1/nosuch/Foo/Bar", `{}`},
		{"/store/Store/Nope", `{}`},
		{"/store/Nope/Read", `{}`},
		{"/store/Store/Read", `{"key":"missing"}`},
		{"/store/Store/Write", `{}`},
		{"/store/Store/Read", `{not json`},
	} {
		if r := e.do(t, "POST", c.path, c.body); r.code < 400 {
			t.Fatalf("%s %s: %d %s", c.path, c.body, r.code, r.body)
		}
	}
	if s := logs.String(); s != "" {
		t.Fatalf("caller mistakes logged at the default level:\n%s", s)
	}

	failing := newEnv(t, Config{Logger: info, Router: RouterFunc(func(context.Context, string, string, string) (Route, error) {
		return Route{Conn: failConn{io.ErrUnexpectedEOF}}, nil
	})})
	failing.do(t, "POST", "/x/Y/Z", `{}`).want(t, 500,
		`{"id":"go.micro.api","code":500,"detail":"error during request: unexpected EOF","status":"Internal Server Error"}`)
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "unexpected EOF") {
		t.Fatalf("a server fault was not logged at warn:\n%s", s)
	}
}
