package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// closedByServer reports whether the server closes c: reads reach EOF or a
// reset. What it sends first (an error answer, a GOAWAY, a websocket close)
// is read and dropped. The bound is generous: it tells a closed connection
// from one left open, it does not time the server.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIdleAndSlowConnectionsAreClosed: with short timeouts set by flags,
// the gateway and the proxy close connections that hold a place without
// using it: silent, slow headers, a slow body, an idle keep-alive, a
// websocket that never sends its request, a proxy connection that never
// speaks HTTP/2 or never makes a call.
func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--read-header-timeout", "1s", "--read-timeout", "2s",
		"--write-timeout", "5s", "--idle-timeout", "1s")
	cases := []struct {
		what, addr, send string
		answered         bool // read one answer before waiting
	}{
		{"gateway: silent", s.gateway, "", false},
		{"gateway: headers never finished", s.gateway, "GET /health HTTP/1.1\r\nHost: x\r\n", false},
		{"gateway: body never finished", s.gateway, "POST /store/Store/Read HTTP/1.1\r\nHost: x\r\n" +
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{", false},
		{"gateway: idle keep-alive", s.gateway, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"gateway: websocket without its request", s.gateway, "GET /events/Stream/Consume HTTP/1.1\r\nHost: x\r\n" +
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
			"Sec-WebSocket-Version: 13\r\n\r\n", true},
		{"proxy: silent", s.proxy, "", false},
		// The HTTP/2 preface and an empty SETTINGS frame: a connection,
		// but no call.
		{"proxy: no call", s.proxy, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", false},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			t.Parallel()
			conn := dialTCP(t, c.addr)
			if _, err := io.WriteString(conn, c.send); err != nil {
				t.Fatal(err)
			}
			if c.answered {
				conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if rsp.StatusCode != 200 && rsp.StatusCode != 101 {
					t.Fatalf("answer: %s", rsp.Status)
				}
			}
			if !closedByServer(conn) {
				t.Fatal("the connection is still open")
			}
		})
	}
}

// TestStreamsOutliveTheTimeouts: the read and write timeouts bound a
// request, not a stream: an event stream quiet for longer than both still
// delivers.
func TestStreamsOutliveTheTimeouts(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--read-timeout", "1s", "--write-timeout", "1s", "--idle-timeout", "1s")
	token := s.adminToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.gateway+"/events/quiet", nil)
	req.AddCookie(&http.Cookie{Name: "micro-token", Value: token})
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 {
		t.Fatalf("GET /events/quiet: %s", rsp.Status)
	}
	lines := bufio.NewScanner(rsp.Body)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), ": subscribed") {
		t.Fatalf("stream start: %q %v", lines.Text(), lines.Err())
	}
	time.Sleep(3 * time.Second) // quiet past both timeouts
	if code, body := postAs(t, token, s.gateway+"/events/Stream/Publish", `{"topic":"quiet","payload":"eyJuIjoxfQ=="}`); code/100 != 2 {
		t.Fatalf("publish: %d %s", code, body)
	}
	for lines.Scan() {
		if lines.Text() == "id: 1" {
			return
		}
	}
	t.Fatalf("the event never came: %v", lines.Err())
}

// TestHealthWhileIdleSocketsHeld: a server limited to 256 descriptors
// still answers GET /health and lets the admin log in while a client holds
// 300 keep-alive connections, each idle after a request (with the default,
// long timeouts): the longest-idle ones are closed to make room.
func TestHealthWhileIdleSocketsHeld(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	s := startServerWrapped(t, []string{prlimit, "--nofile=256:256"}, "", nil)
	var wg sync.WaitGroup
	for range 300 {
		conn := dialTCP(t, s.gateway)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Some are closed to make room for later ones; that is the point.
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return
			}
			if rsp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				io.Copy(io.Discard, rsp.Body)
				rsp.Body.Close()
			}
		}()
	}
	wg.Wait()
	client := &http.Client{Timeout: 30 * time.Second}
	rsp, err := client.Get(s.gateway + "/health")
	if err != nil {
		t.Fatalf("GET /health with 300 idle sockets held: %v", err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 200 {
		t.Fatalf("GET /health: %s", rsp.Status)
	}
	s.adminToken(t)
}

// TestFullDisk: with the database at its size cap (--max-db-size, SQLite's
// max_page_count: a full disk as SQLite sees it), a write is a 507 that
// says the disk is full, GET /health is a 503 that says why, a delete
// still runs and frees the server, and SIGTERM stops it cleanly.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--max-db-size", "2MB")
	token := s.adminToken(t)
	value := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 100<<10)))
	var code int
	var body string
	written := 0
	for ; written < 100; written++ {
		code, body = postAs(t, token, s.gateway+"/store/Store/Write", fmt.Sprintf(`{"record":{"key":"fill/%03d","value":%q}}`, written, value))
		if code/100 != 2 {
			break
		}
	}
	if code != 507 || !strings.Contains(body, "disk is full") {
		t.Fatalf("write %d past the cap: %d %s", written, code, body)
	}
	code, body = get(t, s.gateway+"/health")
	if code != 503 || !strings.Contains(body, "disk is full") {
		t.Fatalf("GET /health when full: %d %s", code, body)
	}
	for i := range 5 {
		if code, body := postAs(t, token, s.gateway+"/store/Store/Delete", fmt.Sprintf(`{"key":"fill/%03d"}`, i)); code/100 != 2 {
			t.Fatalf("delete when full: %d %s", code, body)
		}
	}
	if code, body := get(t, s.gateway+"/health"); code != 200 {
		t.Fatalf("GET /health after deletes: %d %s", code, body)
	}
	if code, body := postAs(t, token, s.gateway+"/store/Store/Write", fmt.Sprintf(`{"record":{"key":"again","value":%q}}`, value)); code/100 != 2 {
		t.Fatalf("write after deletes: %d %s", code, body)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.log())
	}
	if _, err := os.Stat(s.data + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("the WAL is left after a clean stop: %v", err)
	}
}
