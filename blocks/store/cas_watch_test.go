package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

func rev(n uint64) *uint64 { return &n }

func (e *env) casWrite(ctx context.Context, key, value string, ifRev *uint64) error {
	_, err := e.client.Write(ctx, &pb.WriteRequest{
		Record:  &pb.Record{Key: key, Value: []byte(value)},
		Options: &pb.WriteOptions{IfRevision: ifRev},
	})
	return err
}

// TestCompareAndSet names revisions 1, 2, 3: on JetStream they are the
// bucket's sequence numbers, which for these, its first writes, coincide.
func TestCompareAndSet(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		// 0: must not exist.
		if err := e.casWrite(ctx, "k", "a", rev(0)); err != nil {
			t.Fatal(err)
		}
		err := e.casWrite(ctx, "k", "b", rev(0))
		if me := errors.FromError(err, ""); me.Code != 412 || me.Detail != "write: revision does not match: the record is at revision 1" {
			t.Fatalf("create over existing: %v", err)
		}
		if err := e.casWrite(ctx, "k", "b", rev(1)); err != nil {
			t.Fatal(err)
		}
		if err := e.casWrite(ctx, "k", "c", rev(1)); errors.Code(err) != 412 {
			t.Fatalf("stale revision: %v", err)
		}
		rsp, err := e.client.Read(ctx, &pb.ReadRequest{Key: "k"})
		if err != nil || string(rsp.Records[0].Value) != "b" || rsp.Records[0].Revision != 2 {
			t.Fatalf("read: %v %v", rsp, err)
		}
		// Unconditional writes (old clients) still work.
		if err := e.casWrite(ctx, "k", "d", nil); err != nil {
			t.Fatal(err)
		}
		// Absent record: any revision but 0 fails and names revision 0.
		err = e.casWrite(ctx, "missing", "x", rev(3))
		if me := errors.FromError(err, ""); me.Code != 412 || me.Detail != "write: revision does not match: the record does not exist (current revision 0)" {
			t.Fatalf("absent: %v", err)
		}
		// Expired records count as absent.
		e.write(t, ctx, "ttl", "v", 10, nil)
		e.clock.Advance(11 * time.Second)
		if err := e.casWrite(ctx, "ttl", "v2", rev(1)); errors.Code(err) != 412 {
			t.Fatalf("expired as revision 1: %v", err)
		}
		if err := e.casWrite(ctx, "ttl", "v2", rev(0)); err != nil {
			t.Fatalf("expired as absent: %v", err)
		}

		// Delete.
		del := func(key string, r *uint64) error {
			_, err := e.client.Delete(ctx, &pb.DeleteRequest{Key: key, Options: &pb.DeleteOptions{IfRevision: r}})
			return err
		}
		if err := del("k", rev(2)); errors.Code(err) != 412 {
			t.Fatalf("delete stale: %v", err)
		}
		if err := del("k", rev(3)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Read(ctx, &pb.ReadRequest{Key: "k"}); errors.Code(err) != 404 {
			t.Fatalf("after delete: %v", err)
		}
		if err := del("k", rev(3)); errors.Code(err) != 412 {
			t.Fatalf("delete gone with revision: %v", err)
		}
		if err := del("k", rev(0)); err != nil {
			t.Fatalf("delete absent expecting absent: %v", err)
		}
	})
}

// TestCASCounter has 20 writers increment one counter by read, then
// compare-and-set, retrying on 412: no increment may be lost.
func TestCASCounter(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		const writers, each = 20, 5
		var wg sync.WaitGroup
		var conflicts sync.Map
		for w := range writers {
			wg.Go(func() {
				for range each {
					for {
						var cur uint64
						n := 0
						rsp, err := e.client.Read(ctx, &pb.ReadRequest{Key: "counter"})
						switch {
						case errors.Code(err) == 404:
						case err != nil:
							t.Error(err)
							return
						default:
							cur = rsp.Records[0].Revision
							n, _ = strconv.Atoi(string(rsp.Records[0].Value))
						}
						err = e.casWrite(ctx, "counter", strconv.Itoa(n+1), &cur)
						if err == nil {
							break
						}
						if errors.Code(err) != 412 {
							t.Error(err)
							return
						}
						conflicts.Store(w, true)
					}
				}
			})
		}
		wg.Wait()
		rsp, err := e.client.Read(ctx, &pb.ReadRequest{Key: "counter"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(rsp.Records[0].Value); got != strconv.Itoa(writers*each) || (e.sqlite() && rsp.Records[0].Revision != writers*each) {
			t.Fatalf("counter %s at revision %d, want %d", got, rsp.Records[0].Revision, writers*each)
		}
	})
}

// watch opens a Watch and waits until the subscription is in place.
func (e *env) watch(t *testing.T, ctx context.Context, req *pb.WatchRequest) grpc.ServerStreamingClient[pb.WatchEvent] {
	t.Helper()
	stream, err := e.client.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	return stream
}

func eventString(ev *pb.WatchEvent) string {
	return fmt.Sprintf("%s %s@%d=%s", ev.Type, ev.Record.GetKey(), ev.Record.GetRevision(), ev.Record.GetValue())
}

func TestWatchOrderAcrossWriters(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e.write(t, ctx, "other/x", "v", 0, nil) // before: not seen
		const watchers, writers, each = 3, 8, 10
		streams := make([]grpc.ServerStreamingClient[pb.WatchEvent], watchers)
		for i := range streams {
			streams[i] = e.watch(t, ctx, &pb.WatchRequest{Key: "k/", Prefix: true})
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					key := fmt.Sprintf("k/%d", i%3)
					if _, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: key, Value: []byte(fmt.Sprint(w, ".", i))}}); err != nil {
						t.Error(err)
					}
					if i%4 == 3 {
						if _, err := e.client.Delete(ctx, &pb.DeleteRequest{Key: key}); err != nil {
							t.Error(err)
						}
					}
					e.write(t, ctx, "other/y", "v", 0, nil) // outside the prefix
				}
			})
		}
		wg.Wait()
		// The last change marks the end of the stream.
		e.write(t, ctx, "k/end", "end", 0, nil)
		var first []string
		final := map[string]string{}
		for i, s := range streams {
			var seq []string
			state := map[string]string{}
			for {
				ev, err := s.Recv()
				if err != nil {
					t.Fatal(err)
				}
				seq = append(seq, eventString(ev))
				switch ev.Type {
				case "create", "update":
					state[ev.Record.Key] = string(ev.Record.Value)
				case "delete":
					delete(state, ev.Record.Key)
				default:
					t.Fatalf("unexpected event %s", eventString(ev))
				}
				if ev.Record.Key == "k/end" {
					break
				}
			}
			if i == 0 {
				first, final = seq, state
				continue
			}
			equal(t, fmt.Sprintf("watcher %d's events", i), seq, first)
		}
		// Every write is an event; a delete only when the key still existed.
		writes := 0
		for _, ev := range first {
			if ev[:6] == "create" || ev[:6] == "update" {
				writes++
			}
		}
		if want := writers*each + 1; writes != want {
			t.Fatalf("%d write events, want %d", writes, want)
		}
		rsp, err := e.client.Read(ctx, &pb.ReadRequest{Key: "k/", Options: &pb.ReadOptions{Prefix: true}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rsp.Records {
			got[r.Key] = string(r.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(final) {
			t.Fatalf("events replay to %v; the store holds %v", final, got)
		}
	})
}

func TestWatchSlowWatcherIsCutOff(t *testing.T) {
	e := newEnv(t, WithWatchBuffer(4))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slow := e.watch(t, ctx, &pb.WatchRequest{Key: "k"})
	// The stream's own flow-control windows absorb a lot; values of 64 KiB
	// fill them, then the buffer, without the watcher reading.
	big := make([]byte, 64<<10)
	for range 200 {
		if _, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: "k", Value: big}}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	for {
		_, err = slow.Recv()
		if err != nil {
			break
		}
	}
	if me := errors.FromError(err, ""); me.Code != 429 {
		t.Fatalf("slow watcher ended with %v, want 429", err)
	}
	// Writers were never blocked, and a new watcher works.
	fresh := e.watch(t, ctx, &pb.WatchRequest{Key: "k"})
	e.write(t, ctx, "k", "after", 0, nil)
	if ev, err := fresh.Recv(); err != nil || string(ev.Record.Value) != "after" {
		t.Fatalf("fresh watcher: %v %v", ev, err)
	}
}

func TestWatchExpiryAndAuth(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := e.watch(t, ctx, &pb.WatchRequest{Key: "", Prefix: true})
	e.write(t, ctx, "ttl", "v", 10, nil)
	e.clock.Advance(11 * time.Second)
	if n, err := e.store.backend.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	var got []string
	for range 2 {
		ev, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, eventString(ev))
	}
	equal(t, "events", got, []string{"create ttl@1=v", "expire ttl@1="})

	for _, c := range []struct {
		caller string
		code   int32
	}{{"anonymous", 401}, {"acme/user/admin", 403}, {"acme/user/", 403}} {
		st, err := e.client.Watch(asCaller(ctx, c.caller), &pb.WatchRequest{Key: "k", Database: "micro"})
		if err == nil {
			_, err = st.Recv()
		}
		if errors.Code(err) != c.code {
			t.Errorf("watch as %s: %v, want %d", c.caller, err, c.code)
		}
	}
	st, err := e.client.Watch(ctx, &pb.WatchRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if errors.Code(err) != 400 {
		t.Fatalf("watch without key: %v", err)
	}
}
