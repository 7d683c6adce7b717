package config

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/config"
)

func TestSetGetPaths(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		e.set(t, "helloworld.greeting", `"Hi"`, false)
		e.set(t, "helloworld.db", `{"host":"localhost","port":5432}`, false)

		checks := []struct{ path, want string }{
			{"helloworld.greeting", `"Hi"`},
			{"helloworld.db.port", `5432`},
			{"helloworld.db", `{"host":"localhost","port":5432}`},
			{"helloworld", `{"db":{"host":"localhost","port":5432},"greeting":"Hi"}`},
			{"", `{"helloworld":{"db":{"host":"localhost","port":5432},"greeting":"Hi"}}`},
			{"helloworld.missing", `null`},
			{"helloworld.greeting.deeper", `null`},
			{"helloworld.d", `null`}, // a prefix of db, not a key
		}
		for _, c := range checks {
			if got := e.get(t, c.path, false); got != c.want {
				t.Errorf("get %q = %s, want %s", c.path, got, c.want)
			}
		}

		// An object merges; a scalar replaces a subtree; an object replaces a scalar.
		e.set(t, "helloworld.db", `{"user":"u","port":6543}`, false)
		if got := e.get(t, "helloworld.db", false); got != `{"host":"localhost","port":6543,"user":"u"}` {
			t.Fatalf("merged object: %s", got)
		}
		e.set(t, "helloworld.db", `"sqlite"`, false)
		if got := e.get(t, "helloworld", false); got != `{"db":"sqlite","greeting":"Hi"}` {
			t.Fatalf("scalar over object: %s", got)
		}
		e.set(t, "helloworld", `{"db":{"file":"x.db"}}`, false)
		if got := e.get(t, "helloworld", false); got != `{"db":{"file":"x.db"},"greeting":"Hi"}` {
			t.Fatalf("object over scalar inside a merge: %s", got)
		}

		// Values keep their exact JSON: big numbers, arrays, unicode, HTML.
		e.set(t, "v.big", `12345678901234567890123`, false)
		e.set(t, "v.list", `[1, {"a": "<b>&"}, null]`, false)
		e.set(t, "v.text", `"héllo \u00e9 <tag>"`, false)
		if got := e.get(t, "v", false); got != `{"big":12345678901234567890123,"list":[1,{"a":"<b>&"},null],"text":"héllo é <tag>"}` {
			t.Fatalf("exact values: %s", got)
		}

		// Empty objects: a path set to {} reads back as {}, and can be set below.
		e.set(t, "empty", `{}`, false)
		if got := e.get(t, "empty", false); got != `{}` {
			t.Fatalf("empty object: %s", got)
		}
		e.set(t, "empty.child", `true`, false)
		if got := e.get(t, "empty", false); got != `{"child":true}` {
			t.Fatalf("below an empty object: %s", got)
		}
		e.set(t, "empty", `{}`, false) // merging nothing changes nothing
		if got := e.get(t, "empty", false); got != `{"child":true}` {
			t.Fatalf("{} merged into an object: %s", got)
		}
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx := t.Context()

		// A namespace holding nothing is a 404, as in Micro.
		_, err := e.client.Get(ctx, &pb.GetRequest{Path: "x"})
		wantCode(t, "get in an empty namespace", err, 404)
		_, err = e.client.Delete(ctx, &pb.DeleteRequest{Path: "x"})
		wantCode(t, "delete in an empty namespace", err, 404)

		e.set(t, "app.name", `"x"`, false)
		set := func(path, data string) error {
			_, err := e.client.Set(ctx, &pb.SetRequest{Path: path, Value: &pb.Value{Data: data}})
			return err
		}
		cases := []struct {
			what, path, data, detail string
		}{
			{"invalid JSON", "app.v", `{"a":`, "not valid JSON"},
			{"bare word", "app.v", `hello`, "must be quoted"},
			{"two values", "app.v", `1 2`, "text after"},
			{"empty path", "", `1`, "path is required"},
			{"empty value", "app.v", ``, "value is required"},
			{"path through a scalar", "app.name.first", `"y"`, "app.name holds a value that is not an object"},
			{"empty key in path", "app..v", `1`, "empty key"},
			{"trailing dot", "app.", `1`, "empty key"},
			{"dotted key in value", "app.v", `{"a.b":1}`, `"a.b"`},
			{"empty key in value", "app.v", `{"":1}`, `""`},
			{"path too long", strings.Repeat("a", MaxPathSize+1), `1`, "limit"},
		}
		for _, c := range cases {
			me := wantCode(t, c.what, set(c.path, c.data), 400)
			if !strings.Contains(me.Detail, c.detail) {
				t.Errorf("%s: detail %q lacks %q", c.what, me.Detail, c.detail)
			}
		}
		_, err = e.client.Set(ctx, &pb.SetRequest{Path: "app.v", Value: &pb.Value{Data: "1", Format: "yaml"}})
		wantCode(t, "yaml format", err, 400)
		_, err = e.client.Get(ctx, &pb.GetRequest{Path: "a..b"})
		wantCode(t, "get with an empty key", err, 400)
		// Nothing above was written.
		if got := e.get(t, "app", false); got != `{"name":"x"}` {
			t.Fatalf("after refused sets: %s", got)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		e.set(t, "helloworld", `{"greeting":"Hi","db":{"host":"h","port":1}}`, false)
		if _, err := e.client.Delete(t.Context(), &pb.DeleteRequest{Path: "helloworld.db"}); err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, "helloworld", false); got != `{"greeting":"Hi"}` {
			t.Fatalf("after delete: %s", got)
		}
		if got := e.get(t, "helloworld.db.host", false); got != `null` {
			t.Fatalf("deleted leaf: %s", got)
		}
		// A missing path in a namespace with config is fine.
		if _, err := e.client.Delete(t.Context(), &pb.DeleteRequest{Path: "helloworld.nothing"}); err != nil {
			t.Fatal(err)
		}
		// The empty path removes the namespace; it is then a 404.
		if _, err := e.client.Delete(t.Context(), &pb.DeleteRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.Get(t.Context(), &pb.GetRequest{})
		wantCode(t, "get after deleting everything", err, 404)
	})
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx := metadata.Set(t.Context(), metadata.Namespace, "tenant")
		if _, err := e.client.Set(ctx, &pb.SetRequest{Path: "a", Value: &pb.Value{Data: `1`}}); err != nil {
			t.Fatal(err)
		}
		// The caller's namespace is the default; the request's wins.
		rsp, err := e.client.Get(t.Context(), &pb.GetRequest{Namespace: "tenant", Path: "a"})
		if err != nil || rsp.Value.Data != "1" {
			t.Fatalf("get in tenant: %v %v", rsp, err)
		}
		_, err = e.client.Get(t.Context(), &pb.GetRequest{Path: "a"})
		wantCode(t, "get in micro", err, 404)

		denied := newEnvWith(t, filepath.Join(t.TempDir(), "micro.db"), func(ctx context.Context, ns string, admin bool) error {
			if ns != "open" || !admin {
				return errors.Forbidden("micro", "access denied to namespace %s", ns)
			}
			return nil
		})
		_, err = denied.client.Set(t.Context(), &pb.SetRequest{Path: "a", Value: &pb.Value{Data: `1`}})
		wantCode(t, "set when not authorized", err, 403)
		if _, err = denied.client.Set(t.Context(), &pb.SetRequest{Namespace: "open", Path: "a", Value: &pb.Value{Data: `1`}}); err != nil {
			t.Fatal(err)
		}
		wstream, err := denied.client.Watch(t.Context(), &pb.WatchRequest{Path: "a"})
		if err == nil {
			_, err = wstream.Recv()
		}
		wantCode(t, "watch when not authorized", err, 403)
	})
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		const secret = "s3cr3t-Value-9f8e7d"
		e.set(t, "helloworld.greeting", `"Hi"`, false)
		e.set(t, "helloworld.apikey", `"`+secret+`"`, true)
		e.set(t, "helloworld.creds", `{"user":"bob","password":"`+secret+`-2"}`, true)

		if got := e.get(t, "helloworld", false); got != `{"apikey":"[secret]","creds":{"password":"[secret]","user":"[secret]"},"greeting":"Hi"}` {
			t.Fatalf("masked: %s", got)
		}
		if got := e.get(t, "helloworld.apikey", true); got != `"`+secret+`"` {
			t.Fatalf("revealed: %s", got)
		}
		if got := e.get(t, "helloworld.creds", true); got != `{"password":"`+secret+`-2","user":"bob"}` {
			t.Fatalf("revealed object: %s", got)
		}
		// Read masks too.
		rsp, err := e.client.Read(t.Context(), &pb.ReadRequest{Path: "helloworld.apikey"})
		if err != nil || rsp.Change.ChangeSet.Data != Secret {
			t.Fatalf("read: %v %v", rsp, err)
		}
		// Set without --secret makes a leaf plain again.
		e.set(t, "helloworld.creds.user", `"alice"`, false)
		if got := e.get(t, "helloworld.creds", false); got != `{"password":"[secret]","user":"alice"}` {
			t.Fatalf("plain again: %s", got)
		}

		// Nothing on disk holds the secret in clear: not the database file,
		// not its write-ahead log, not the bucket's value.
		if raw := e.storedNamespace(t, "micro"); e.config.js != nil && (bytes.Contains(raw, []byte(secret)) || !bytes.Contains(raw, []byte("helloworld.apikey"))) {
			t.Fatalf("the bucket holds the secret in clear, or not the config at all: %s", raw)
		}
		e.stop(t)
		if file := notOnDisk(t, e.path, secret); len(file) == 0 {
			t.Fatal("empty database file")
		} else if e.config.js == nil && !bytes.Contains(file, []byte("helloworld.apikey")) {
			t.Fatalf("the database file does not hold the config at all; the check above proves nothing")
		}

		// The key stays in the database: a restart reads the secret back.
		e2 := newEnvAt(t, e.path, with...)
		if got := e2.get(t, "helloworld.apikey", true); got != `"`+secret+`"` {
			t.Fatalf("after restart: %s", got)
		}
	})
}

func TestSecretKeyOption(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		key := bytes.Repeat([]byte{7}, SecretKeySize)
		parsed, err := ParseSecretKey(base64.StdEncoding.EncodeToString(key))
		if err != nil || !bytes.Equal(parsed, key) {
			t.Fatalf("parse: %x %v", parsed, err)
		}
		for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(key[:16])} {
			if _, err := ParseSecretKey(bad); err == nil {
				t.Errorf("ParseSecretKey(%q) accepted", bad)
			}
		}

		e := newEnv(t, append(with, WithSecretKey(key))...)
		e.set(t, "db.password", `"pw"`, true)
		if stored := e.storedSecretKey(t); stored != nil {
			t.Fatalf("a given key must not be stored: %x", stored)
		}
		if got := e.get(t, "db.password", true); got != `"pw"` {
			t.Fatalf("revealed: %s", got)
		}
		e.stop(t)

		// Another key cannot open it, and says why.
		other := newEnvAt(t, e.path, append(with, WithSecretKey(bytes.Repeat([]byte{8}, SecretKeySize)))...)
		_, err = other.client.Get(t.Context(), &pb.GetRequest{Path: "db.password", Options: &pb.Options{Secret: true}})
		me := wantCode(t, "get with the wrong key", err, 500)
		if !strings.Contains(me.Detail, "sealed with key") {
			t.Fatalf("detail: %s", me.Detail)
		}
		// Masked reads still work.
		if got := other.get(t, "db", false); got != `{"password":"[secret]"}` {
			t.Fatalf("masked: %s", got)
		}
	})
}

// watch opens a watch on path and returns a channel of the values it sends
// (Value.Data), closed with the stream.
func watch(t *testing.T, e *env, ctx context.Context, path string) (<-chan string, *error) {
	t.Helper()
	stream, err := e.client.Watch(ctx, &pb.WatchRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 4096)
	var end error
	go func() {
		defer close(out)
		for {
			m, err := stream.Recv()
			if err != nil {
				end = err
				return
			}
			out <- m.GetValue().GetData()
		}
	}()
	return out, &end
}

func next(t *testing.T, ch <-chan string, what string) string {
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
	return ""
}

// TestWatchEveryChangeInOrder: two watchers (two services) see every
// change, in the same order, including changes made concurrently.
func TestWatchEveryChangeInOrder(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		e.set(t, "helloworld.greeting", `"v0"`, false)

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		a, _ := watch(t, e, ctx, "helloworld")
		b, _ := watch(t, e, ctx, "helloworld")
		other, _ := watch(t, e, ctx, "unrelated")
		for name, ch := range map[string]<-chan string{"a": a, "b": b} {
			if got := next(t, ch, name+" first"); got != `{"greeting":"v0"}` {
				t.Fatalf("%s first value: %s", name, got)
			}
		}
		if got := next(t, other, "unrelated first"); got != `null` {
			t.Fatalf("unrelated first value: %s", got)
		}

		// Sequential changes arrive one for one, in order.
		const n = 40
		for i := 1; i <= n; i++ {
			e.set(t, "helloworld.greeting", fmt.Sprintf(`"v%d"`, i), false)
		}
		for i := 1; i <= n; i++ {
			want := fmt.Sprintf(`{"greeting":"v%d"}`, i)
			for name, ch := range map[string]<-chan string{"a": a, "b": b} {
				if got := next(t, ch, name); got != want {
					t.Fatalf("%s change %d: %s, want %s", name, i, got, want)
				}
			}
		}

		// Concurrent writers: both watchers get every change, in one order,
		// and the last value each sees is the final state.
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					e.set(t, fmt.Sprintf("helloworld.w%d", w), fmt.Sprint(i), false)
				}
			})
		}
		wg.Wait()
		var seenA, seenB []string
		for range 40 {
			seenA = append(seenA, next(t, a, "a concurrent"))
			seenB = append(seenB, next(t, b, "b concurrent"))
		}
		for i := range seenA {
			if seenA[i] != seenB[i] {
				t.Fatalf("watchers disagree at change %d: %s vs %s", i, seenA[i], seenB[i])
			}
		}
		if final := e.get(t, "helloworld", false); seenA[len(seenA)-1] != final {
			t.Fatalf("last change %s, state %s", seenA[len(seenA)-1], final)
		}

		// A delete is a change too: null when nothing is left.
		if _, err := e.client.Delete(t.Context(), &pb.DeleteRequest{Path: "helloworld"}); err != nil {
			t.Fatal(err)
		}
		if got := next(t, a, "a delete"); got != `null` {
			t.Fatalf("after delete: %s", got)
		}
		// The unrelated watcher saw none of it.
		e.set(t, "unrelated", `1`, false)
		if got := next(t, other, "unrelated"); got != `1` {
			t.Fatalf("unrelated watcher got %s before its own change", got)
		}
	})
}

// TestWatchSubtree: a change below or above the watched path counts;
// secrets stay masked.
func TestWatchSubtree(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w, _ := watch(t, e, ctx, "app.db")
		if got := next(t, w, "first"); got != `null` {
			t.Fatalf("first: %s", got)
		}
		e.set(t, "app.db.port", `5432`, false)
		e.set(t, "app", `{"db":{"host":"h"}}`, false)
		e.set(t, "app.db.password", `"pw"`, true)
		for i, want := range []string{`{"port":5432}`, `{"host":"h","port":5432}`, `{"host":"h","password":"[secret]","port":5432}`} {
			if got := next(t, w, "change"); got != want {
				t.Fatalf("change %d: %s, want %s", i, got, want)
			}
		}
	})
}

func TestWatchEndsOnClose(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		w, end := watch(t, e, t.Context(), "x")
		next(t, w, "first")
		e.config.Close()
		for range w {
		}
		wantCode(t, "watch after close", *end, 503)
	})
}

// TestJSONOverGRPC checks the JSON form the gateway and CLI see.
func TestJSONOverGRPC(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		call := func(method, req string) (string, error) {
			var rsp codec.Frame
			err := e.conn.Invoke(t.Context(), "/config.Config/"+method, &codec.Frame{Data: []byte(req)}, &rsp,
				grpc.CallContentSubtype(codec.JSON))
			return string(rsp.Data), err
		}
		if got, err := call("Set", `{"path":"a.b","value":{"data":"{\"c\":1}"}}`); err != nil || got != `{}` {
			t.Fatalf("set: %s %v", got, err)
		}
		got, err := call("Get", `{"path":"a"}`)
		if want := `{"value":{"data":"{\"b\":{\"c\":1}}","format":"json"},"revision":"1"}`; err != nil || got != want {
			t.Fatalf("get:\n got %s\nwant %s (%v)", got, want, err)
		}
		_, err = call("Set", `{"path":"a.b.c.d","value":{"data":"1"}}`)
		wantCode(t, "through a scalar over JSON", err, 400)
	})
}
