package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/broker"
	"micro.dev/micro/blocks/config"
	"micro.dev/micro/blocks/events"
	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/schema"
)

// startBlocks isolates the CLI and points it at real config, events and
// broker blocks on a fresh database.
func startBlocks(t *testing.T) *events.Events {
	t.Helper()
	isolate(t)
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{config.Migrations, events.Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	// The CLI's commands are under test, not access (the blocks' own
	// tests and node's access walk cover it): every call is let in.
	var open fauth.Authorizer = func(context.Context, string, bool) error { return nil }
	cfg, ev, br := config.New(db, open), events.New(db, open), broker.New(open)
	t.Cleanup(func() {
		cfg.Close()
		br.Close()
		ev.Close()
		db.Close()
	})
	t.Setenv("MICRO_PROXY", serve(t, func(s *grpc.Server) {
		cfg.Register(s)
		ev.Register(s)
		br.Register(s)
	}))
	return ev
}

func TestConfigCommands(t *testing.T) {
	startBlocks(t)
	mustRun(t, "config", "set", "helloworld.greeting", `"Hi"`)
	mustRun(t, "config", "set", "helloworld.db", `{"host":"localhost","port":5432}`)
	mustRun(t, "config", "set", "helloworld.words", "hello", "there")
	mustRun(t, "config", "set", "helloworld.apikey", "xyz", "--secret")
	for _, c := range []struct{ args, want string }{
		{"config get helloworld.db.port", "5432\n"},
		{"config get helloworld.greeting", "Hi\n"},
		{"config get helloworld.words", "hello there\n"},
		{"config get helloworld.apikey", "[secret]\n"},
		{"config get helloworld.apikey --secret", "xyz\n"},
		{"config get -s helloworld.apikey", "xyz\n"},
		{"config get helloworld.db", "{\n  \"host\": \"localhost\",\n  \"port\": 5432\n}\n"},
	} {
		if got := mustRun(t, strings.Fields(c.args)...); got != c.want {
			t.Errorf("micro %s = %q, want %q", c.args, got, c.want)
		}
	}
	mustRun(t, "config", "del", "helloworld.db")
	wantFail(t, 1, "Not found: helloworld.db", "config", "get", "helloworld.db")
	wantFail(t, 1, "Cannot set helloworld.greeting.x: helloworld.greeting holds a value that is not an object, so nothing can be set below it; delete it or set it to an object first",
		"config", "set", "helloworld.greeting.x", "1")
	wantFail(t, 1, "Expected a path and a value. Please refer to 'micro config set --help'", "config", "set", "x")
	// Another namespace has nothing: Micro's 404.
	wantFail(t, 1, "Not found: namespace other has no config", "--namespace", "other", "config", "get", "x")
}

func TestEventsCommands(t *testing.T) {
	startBlocks(t)
	mustRun(t, "events", "publish", "orders", `{"id":1}`)
	mustRun(t, "events", "publish", "-m", "k=v", "orders", "plain", "text")
	lines := strings.Split(strings.TrimSpace(mustRun(t, "events", "consume", "orders", "--group", "billing", "--offset", "0", "-n", "2")), "\n")
	if len(lines) != 2 {
		t.Fatalf("consume: %q", lines)
	}
	var ev eventJSON
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Sequence != 1 || string(ev.Payload) != `{"id":1}` || ev.Topic != "orders" {
		t.Fatalf("first event %s: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Sequence != 2 || string(ev.Payload) != `"plain text"` || ev.Metadata["k"] != "v" {
		t.Fatalf("second event %s: %v", lines[1], err)
	}
	// The group resumes after what it consumed.
	mustRun(t, "events", "publish", "orders", `{"id":3}`)
	if out := mustRun(t, "events", "consume", "orders", "--group", "billing", "-n", "1"); !strings.Contains(out, `"sequence":3`) {
		t.Fatalf("group resume: %s", out)
	}
	if out := mustRun(t, "events", "consume", "orders", "--sequence", "2", "-n", "1"); !strings.Contains(out, `"sequence":2`) {
		t.Fatalf("--sequence: %s", out)
	}
	out := mustRun(t, "events", "read", "orders", "--limit", "2", "--offset", "1")
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"sequence":2`) || !strings.Contains(out, `"sequence":3`) {
		t.Fatalf("read: %s", out)
	}
	mustRun(t, "events", "retention", "orders", "72h")
	if out := mustRun(t, "events", "topics"); !strings.Contains(out, "orders") || !strings.Contains(out, "72h0m0s") || !strings.Contains(out, "billing") {
		t.Fatalf("topics: %s", out)
	}
	wantFail(t, 1, "Topic is required", "events", "read", "")
	wantFail(t, 1, `--offset "yesterday" is neither unix seconds nor a duration such as 1h. Please refer to 'micro events consume --help'`,
		"events", "consume", "orders", "--offset", "yesterday")
}

func TestParseOffset(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for in, want := range map[string]int64{"": 0, "0": 0, "1699999000": 1699999000, "1h": 1_700_000_000 - 3600} {
		if got, err := parseOffset(in, now); err != nil || got != want {
			t.Errorf("parseOffset(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5", "soon", "-1h"} {
		if _, err := parseOffset(bad, now); err == nil {
			t.Errorf("parseOffset(%q) accepted", bad)
		}
	}
}

func TestBrokerCommands(t *testing.T) {
	startBlocks(t)
	done := make(chan string)
	go func() {
		out, _, _ := run(t, "broker", "subscribe", "news", "-n", "2")
		done <- out
	}()
	// Publish until the subscriber has joined and got two messages.
	deadline := time.After(10 * time.Second)
	for {
		mustRun(t, "broker", "publish", "news", "hello", "world")
		select {
		case out := <-done:
			if out != "hello world\nhello world\n" {
				t.Fatalf("subscribe: %q", out)
			}
			return
		case <-deadline:
			t.Fatal("subscriber got nothing")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
