package netlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

func serve(t *testing.T, cfg Config) (*Limiter, string) {
	t.Helper()
	inner := testkit.Listen(t)
	lm := New(cfg)
	t.Cleanup(lm.Close)
	l := lm.Wrap(inner, "test")
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: ConnState,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return lm, inner.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closed reports whether the server closed c (reads EOF or a reset).
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	ne, isNet := err.(net.Error)
	return err != nil && !(isNet && ne.Timeout())
}

func get(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	return string(b)
}

// TestCapClosesTheLongestIdle: at the cap, a new connection from the same
// address gets in and the one idle longest is closed.
func TestCapClosesTheLongestIdle(t *testing.T) {
	for _, cfg := range []Config{{PerAddress: 3}, {Total: 3}} {
		capClosesTheLongestIdle(t, cfg)
	}
}

func capClosesTheLongestIdle(t *testing.T, cfg Config) {
	l, addr := serve(t, cfg)
	first := dial(t, addr)
	waitConns(t, l, 1)
	dial(t, addr)
	dial(t, addr)
	waitConns(t, l, 3)
	fresh := dial(t, addr)
	if got := get(t, fresh); got != "ok" {
		t.Fatalf("new connection at the cap: %q", got)
	}
	if !closed(first) {
		t.Fatal("the longest-idle connection is still open")
	}
}

// TestCapKeepsBusyConnections: connections in a request are not closed;
// with none idle, the new one is refused.
func TestCapKeepsBusyConnections(t *testing.T) {
	l, addr := serve(t, Config{PerAddress: 2})
	busy := []net.Conn{dial(t, addr), dial(t, addr)}
	for _, c := range busy {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // headers not finished: busy
	}
	waitConns(t, l, 2)
	deadline := time.Now().Add(10 * time.Second)
	for idle := 2; idle > 0; { // until the server has read what they sent
		if time.Now().After(deadline) {
			t.Fatal("the server did not read the started requests")
		}
		time.Sleep(5 * time.Millisecond)
		l.mu.Lock()
		idle = 0
		for c := range l.conns {
			if c.idle.Load() {
				idle++
			}
		}
		l.mu.Unlock()
	}
	refused := dial(t, addr)
	if !closed(refused) {
		t.Fatal("a connection over the cap with none idle was kept")
	}
	for _, c := range busy {
		io.WriteString(c, "\r\n")
		rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || rsp.StatusCode != 200 {
			t.Fatalf("busy connection: %v %v", rsp, err)
		}
		rsp.Body.Close()
	}
	if !strings.Contains(get(t, dial(t, addr)), "ok") {
		t.Fatal("after the requests, a new connection is refused")
	}
}

func waitConns(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		got := len(l.conns)
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
