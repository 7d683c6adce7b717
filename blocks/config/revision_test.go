package config

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	pb "micro.dev/micro/proto/config"
)

// seen is one watch message: the revision and the value.
type seen struct {
	rev  uint64
	data string
}

// watchFrom opens a watch (resuming after from unless it is nil) and
// returns a channel of its messages, closed with the stream, and how the
// stream ended.
func watchFrom(t *testing.T, e *env, ctx context.Context, req *pb.WatchRequest) (<-chan seen, *error) {
	t.Helper()
	stream, err := e.client.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan seen, 4096)
	var end error
	go func() {
		defer close(out)
		for {
			m, err := stream.Recv()
			if err != nil {
				end = err
				return
			}
			out <- seen{m.GetRevision(), m.GetValue().GetData()}
		}
	}()
	return out, &end
}

func nextSeen(t *testing.T, ch <-chan seen, what string) seen {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: stream ended", what)
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10s", what)
	}
	return seen{}
}

func rev(r uint64) *uint64 { return &r }

func (e *env) revision(tb testing.TB, ns string) uint64 {
	tb.Helper()
	rsp, err := e.client.Get(tb.Context(), &pb.GetRequest{Namespace: ns})
	if err != nil {
		tb.Fatalf("get %s: %v", ns, err)
	}
	return rsp.GetRevision()
}

func TestRevisionsPerNamespace(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx := t.Context()
		set := func(ns, path, data string) {
			t.Helper()
			if _, err := e.client.Set(ctx, &pb.SetRequest{Namespace: ns, Path: path, Value: &pb.Value{Data: data}}); err != nil {
				t.Fatal(err)
			}
		}
		set("a", "x", "1")
		set("a", "y", "2")
		set("b", "x", "1")
		if ra, rb := e.revision(t, "a"), e.revision(t, "b"); ra != 2 || rb != 1 {
			t.Fatalf("revisions a=%d b=%d, want 2 and 1", ra, rb)
		}
		// A delete that removes nothing is no change.
		if _, err := e.client.Delete(ctx, &pb.DeleteRequest{Namespace: "a", Path: "nope"}); err != nil {
			t.Fatal(err)
		}
		if r := e.revision(t, "a"); r != 2 {
			t.Fatalf("after an empty delete: %d, want 2", r)
		}
		// Emptying a namespace does not reset its revision.
		if _, err := e.client.Delete(ctx, &pb.DeleteRequest{Namespace: "a"}); err != nil {
			t.Fatal(err)
		}
		set("a", "z", "3")
		if r := e.revision(t, "a"); r != 4 {
			t.Fatalf("after emptying and setting again: %d, want 4", r)
		}
	})
}

// TestWatchResumeReplaysMissedChanges records what a live watcher of "app"
// is sent through a mix of changes (at, above, below and beside the path;
// merges, replaces, deletes), then resumes from every revision, before and
// after a restart of the server on the same file, and wants exactly the
// live messages after that revision, in order.
func TestWatchResumeReplaysMissedChanges(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		live, _ := watchFrom(t, e, ctx, &pb.WatchRequest{Path: "app"})
		if first := nextSeen(t, live, "first"); first != (seen{0, "null"}) {
			t.Fatalf("first: %+v", first)
		}
		steps := []struct{ op, path, data string }{
			{"set", "app", `{"a":1,"b":{"c":2}}`},
			{"set", "other", `"x"`},
			{"set", "app.b.d", `3`},
			{"set", "app", `{"b":{"c":5},"e":[1,2]}`},
			{"del", "app.b", ""},
			{"set", "app.e", `"s"`},
			{"set", "other", `{"y":1}`},
			{"del", "", ""},
			{"set", "app.z", `{}`},
			{"set", "app.z.q", `true`},
			{"set", "app", `7`},
			{"set", "app", `{"k":"v"}`},
		}
		var want []seen
		for i, s := range steps {
			var err error
			if s.op == "set" {
				_, err = e.client.Set(t.Context(), &pb.SetRequest{Path: s.path, Value: &pb.Value{Data: s.data}})
			} else {
				_, err = e.client.Delete(t.Context(), &pb.DeleteRequest{Path: s.path})
			}
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if s.path != "other" {
				m := nextSeen(t, live, fmt.Sprintf("live step %d", i))
				if m.rev != uint64(i+1) {
					t.Fatalf("step %d: revision %d, want %d", i, m.rev, i+1)
				}
				want = append(want, m)
			}
		}
		cancel()
		if want[len(want)-1].data != `{"k":"v"}` || want[2].data != `{"a":1,"b":{"c":5,"d":3},"e":[1,2]}` {
			t.Fatalf("live values are not what the steps made: %+v", want)
		}

		check := func(e *env, label string) {
			for from := uint64(0); from <= uint64(len(steps)); from++ {
				ctx, cancel := context.WithCancel(t.Context())
				ch, _ := watchFrom(t, e, ctx, &pb.WatchRequest{Path: "app", FromRevision: rev(from)})
				for _, w := range want {
					if w.rev <= from {
						continue
					}
					if got := nextSeen(t, ch, fmt.Sprintf("%s from %d", label, from)); got != w {
						t.Fatalf("%s from %d: got %+v, want %+v", label, from, got, w)
					}
				}
				cancel()
				// Nothing more: the stream ends with the cancel, not another value.
				for m := range ch {
					t.Fatalf("%s from %d: extra message %+v", label, from, m)
				}
			}
		}
		check(e, "before restart")
		e.stop(t)
		e2 := newEnvAt(t, e.path, with...)
		check(e2, "after restart")

		// Resuming at the current revision sends nothing until the next change.
		ch, _ := watchFrom(t, e2, t.Context(), &pb.WatchRequest{Path: "app", FromRevision: rev(uint64(len(steps)))})
		e2.set(t, "app.k", `"w"`, false)
		if got := nextSeen(t, ch, "live after resume"); got != (seen{uint64(len(steps) + 1), `{"k":"w"}`}) {
			t.Fatalf("live after resume: %+v", got)
		}
	})
}

func TestWatchResumeTooOldOrAhead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, append(with, WithChangeRetention(3))...)
		for i := 1; i <= 6; i++ {
			e.set(t, "app.n", fmt.Sprint(i), false)
		}
		resume := func(from uint64) error {
			stream, err := e.client.Watch(t.Context(), &pb.WatchRequest{Path: "app", FromRevision: rev(from)})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}
		wantCode(t, "from 2 with changes 4-6 kept", resume(2), 412)
		wantCode(t, "from a revision ahead", resume(7), 412)
		// Past what SQLite can number: still "ahead", not a failed query.
		wantCode(t, "from a revision past int64", resume(math.MaxUint64), 412)
		if err := resume(3); err != nil {
			t.Fatalf("from 3 with changes 4-6 kept: %v", err)
		}

		// The log keeps exactly the newest 3.
		changes, lo, _, err := e.config.backend.Changes(t.Context(), "micro", 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(changes); n != 3 || lo != 4 {
			t.Fatalf("log holds %d changes from %d, want 3 from 4", n, lo)
		}
	})
}

func TestWatchSecretsInLogAndStream(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		const secret = "l0g-s3cr3t-7a6b5c"
		e.set(t, "app.plain", `"p"`, false)
		e.set(t, "app.key", `"`+secret+`"`, true)
		e.set(t, "app.key", `"`+secret+`-2"`, true)

		for _, reveal := range []bool{false, true} {
			ch, _ := watchFrom(t, e, t.Context(), &pb.WatchRequest{Path: "app", FromRevision: rev(1), Options: &pb.Options{Secret: reveal}})
			want := []string{`{"key":"[secret]","plain":"p"}`, `{"key":"[secret]","plain":"p"}`}
			if reveal {
				want = []string{`{"key":"` + secret + `","plain":"p"}`, `{"key":"` + secret + `-2","plain":"p"}`}
			}
			for i, w := range want {
				if got := nextSeen(t, ch, "secret replay"); got.data != w || got.rev != uint64(i+2) {
					t.Fatalf("reveal=%v #%d: %+v, want %s", reveal, i, got, w)
				}
			}
		}
		// Live too.
		ch, _ := watchFrom(t, e, t.Context(), &pb.WatchRequest{Path: "app.key", Options: &pb.Options{Secret: true}})
		if got := nextSeen(t, ch, "first revealed"); got.data != `"`+secret+`-2"` {
			t.Fatalf("first revealed: %+v", got)
		}

		changes, _, _, err := e.config.backend.Changes(t.Context(), "micro", 0)
		logged := 0
		for _, c := range changes {
			for _, l := range c.After {
				if l.Path == "app.key" {
					logged++
				}
			}
		}
		if err != nil || logged != 2 {
			t.Fatalf("secret changes logged: %d %v", logged, err)
		}
		if raw := e.storedNamespace(t, "micro"); bytes.Contains(raw, []byte("l0g-s3cr3t")) {
			t.Fatalf("the bucket holds the secret in clear text: %s", raw)
		}
		e.stop(t)
		notOnDisk(t, e.path, "l0g-s3cr3t")
	})
}
