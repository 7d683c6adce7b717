package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/events"
)

// TestEventsTour is the events story with the CLI: publish, a group
// consumer that replays and then follows, read.
func TestEventsTour(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	c.ok("events", "publish", "orders", `{"id":1}`)
	c.ok("events", "publish", "orders", `{"id":2}`)

	// consume replays 1 and 2, then follows: 3 arrives while it runs.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, "events", "consume", "orders", "--group", "billing", "--offset", "0", "-n", "3")
	cmd.Env = c.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	c.ok("events", "publish", "orders", `{"id":3}`)
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	for i, line := range got {
		var ev struct {
			Sequence uint64          `json:"sequence"`
			Payload  json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Sequence != uint64(i+1) || string(ev.Payload) != fmt.Sprintf(`{"id":%d}`, i+1) {
			t.Fatalf("event %d: %s (%v)", i, line, err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("consume printed %d events", len(got))
	}
	if out := c.ok("events", "read", "orders", "--limit", "10"); strings.Count(out, "\n") != 3 {
		t.Fatalf("read: %s", out)
	}
	// Publish without a topic is a 400 through the gateway too.
	code, body := postAs(t, s.adminToken(t), s.gateway+"/events/Stream/Publish", `{"payload":"eA=="}`)
	if code != 400 {
		t.Fatalf("publish without topic: %d %s", code, body)
	}

	// Broker: a subscriber gets what is published while it listens.
	sub := exec.CommandContext(ctx, microBin, "broker", "subscribe", "news", "-n", "1")
	sub.Env = c.env
	var subOut strings.Builder
	sub.Stdout = &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	for {
		c.ok("broker", "publish", "news", "hello")
		select {
		case err := <-done:
			if err != nil || subOut.String() != "hello\n" {
				t.Fatalf("broker subscribe: %v %q", err, subOut.String())
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestPublishedEventsSurviveKill9: every publish the server acknowledged is
// there, in order, after kill -9 and a restart; a consumer group's acks
// hold and its unacked events come back.
func TestPublishedEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "micro.db")
	s := startServer(t, data)
	conn := testkit.Dial(t, s.proxy)
	st := pb.NewStreamClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx = bearer(ctx, s.adminToken(t))

	// A group consumer acks events 1-5 and holds the rest unacked.
	for i := 1; i <= 10; i++ {
		if _, err := st.Publish(ctx, &pb.PublishRequest{Topic: "jobs", Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := st.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub := &pb.ConsumeRequest{Topic: "jobs", Group: "workers", AckWait: int64(time.Hour), RetryLimit: -1}
	if err := cons.Send(sub); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		ev, err := cons.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if i <= 5 {
			if err := cons.Send(&pb.ConsumeRequest{Ack: &pb.AckRequest{Id: ev.Id, Success: true}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Publishers run until the kill; every acknowledged sequence is kept.
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				payload := fmt.Sprintf("w%d-%d", w, i)
				rsp, err := st.Publish(ctx, &pb.PublishRequest{Topic: "orders", Payload: []byte(payload)})
				if err != nil {
					return
				}
				mu.Lock()
				acked[rsp.Sequence] = payload
				mu.Unlock()
			}
		})
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The acks are applied by the time the group holds only 6-10.
	pending := func() int {
		db, err := sql.Open("sqlite", "file:"+data+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM events_pending`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); pending() != 5; {
		if time.Now().After(deadline) {
			t.Fatalf("the group holds %d pending events, want 5", pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop(syscall.SIGKILL)
	wg.Wait()

	s2 := startServer(t, data)
	conn2 := testkit.Dial(t, s2.proxy)
	ctx2 := bearer(ctx, s2.adminToken(t))
	rsp, err := pb.NewStoreClient(conn2).Read(ctx2, &pb.ReadRequest{Topic: "orders", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]string{}
	for i, ev := range rsp.Events {
		if ev.Sequence != uint64(i+1) {
			t.Fatalf("sequence gap: event %d has sequence %d", i, ev.Sequence)
		}
		stored[ev.Sequence] = string(ev.Payload)
	}
	for seq, payload := range acked {
		if stored[seq] != payload {
			t.Fatalf("acknowledged event %d (%s) lost after kill -9: have %q", seq, payload, stored[seq])
		}
	}
	t.Logf("%d acknowledged publishes all present after kill -9 (%d stored)", len(acked), len(stored))

	// The group: 6-10 come back (unacked when the server died), 1-5 never.
	cons2, err := pb.NewStreamClient(conn2).Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cons2.Send(sub); err != nil {
		t.Fatal(err)
	}
	for want := 6; want <= 10; want++ {
		ev, err := cons2.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Payload) != strconv.Itoa(want) {
			t.Fatalf("group after kill -9: got %s, want %d", ev.Payload, want)
		}
	}
}

// TestSSEResume: a browser-style client follows a topic through the
// gateway, loses its connection, and resumes with Last-Event-ID without
// losing or repeating an event.
func TestSSEResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	for i := 1; i <= 5; i++ {
		c.ok("events", "publish", "feed", fmt.Sprintf(`{"n":%d}`, i))
	}

	type sse struct {
		id, event, data string
	}
	// follow reads n events from GET /events/feed, then drops the connection.
	token := s.adminToken(t)
	follow := func(n int, lastID string) []sse {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.gateway+"/events/feed", nil)
		req.Header.Set("Accept", "text/event-stream")
		// EventSource cannot set headers: the dashboard's cookie is the credential.
		req.AddCookie(&http.Cookie{Name: "micro-token", Value: token})
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /events/feed: %d %v", rsp.StatusCode, rsp.Header)
		}
		var out []sse
		var cur sse
		sc := bufio.NewScanner(rsp.Body)
		for len(out) < n && sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.id != "" {
					out = append(out, cur)
				}
				cur = sse{}
			case strings.HasPrefix(line, "id: "):
				cur.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			}
		}
		if len(out) < n {
			t.Fatalf("got %d of %d events: %v", len(out), n, sc.Err())
		}
		return out // the deferred Close drops the connection
	}

	first := follow(3, "")
	for i, ev := range first {
		if ev.id != strconv.Itoa(i+1) || ev.event != "feed" || ev.data != fmt.Sprintf(`{"n":%d}`, i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// While disconnected, more is published.
	for i := 6; i <= 8; i++ {
		c.ok("events", "publish", "feed", fmt.Sprintf(`{"n":%d}`, i))
	}
	rest := follow(5, first[len(first)-1].id)
	for i, ev := range rest {
		if want := strconv.Itoa(i + 4); ev.id != want || ev.data != fmt.Sprintf(`{"n":%s}`, want) {
			t.Fatalf("after resume, event %d: %+v, want id %s", i, ev, want)
		}
	}
}
