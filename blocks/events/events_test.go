package events

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/events"
)

func TestPublishRead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		clk := testkit.NewClock()
		e := newEnv(t, append(with, WithClock(clk.Now))...)
		ctx := t.Context()
		for i := 1; i <= 5; i++ {
			rsp, err := e.stream.Publish(ctx, &pb.PublishRequest{Topic: "orders", Payload: fmt.Appendf(nil, `{"id":%d}`, i),
				Metadata: map[string]string{"k": fmt.Sprint(i)}})
			if err != nil {
				t.Fatal(err)
			}
			if rsp.Sequence != uint64(i) || rsp.Id == "" {
				t.Fatalf("publish %d: %v", i, rsp)
			}
		}
		if _, err := e.stream.Publish(ctx, &pb.PublishRequest{Topic: "orders", Payload: []byte(`{}`), Timestamp: 42}); err != nil {
			t.Fatal(err)
		}
		evs := e.read(t, "orders")
		if len(evs) != 6 {
			t.Fatalf("read %d events", len(evs))
		}
		ids := map[string]bool{}
		for i, ev := range evs[:5] {
			if ev.Sequence != uint64(i+1) || string(ev.Payload) != fmt.Sprintf(`{"id":%d}`, i+1) || ev.Topic != "orders" ||
				ev.Metadata["k"] != fmt.Sprint(i+1) || ev.Timestamp != clk.Now().Unix() {
				t.Fatalf("event %d: %v", i, ev)
			}
			ids[ev.Id] = true
		}
		if len(ids) != 5 {
			t.Fatalf("ids not unique: %v", ids)
		}
		if evs[5].Timestamp != 42 {
			t.Fatalf("a given timestamp is kept: %v", evs[5])
		}

		rsp, err := e.store.Read(ctx, &pb.ReadRequest{Topic: "orders", Limit: 2, Offset: 3})
		if err != nil || len(rsp.Events) != 2 || rsp.Events[0].Sequence != 4 || rsp.Events[1].Sequence != 5 {
			t.Fatalf("limit/offset: %v %v", rsp, err)
		}
		// Topics are per namespace.
		other := metadata.Set(ctx, metadata.Namespace, "tenant")
		rsp, err = e.store.Read(other, &pb.ReadRequest{Topic: "orders"})
		if err != nil || len(rsp.Events) != 0 {
			t.Fatalf("another namespace sees %v %v", rsp, err)
		}
		if r, err := e.stream.Publish(other, &pb.PublishRequest{Topic: "orders"}); err != nil || r.Sequence != 1 {
			t.Fatalf("another namespace's sequence: %v %v", r, err)
		}

		_, err = e.store.Write(ctx, &pb.WriteRequest{Event: &pb.Event{Topic: "orders"}})
		wantCode(t, "store write", err, 501)
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		ctx := t.Context()
		_, err := e.stream.Publish(ctx, &pb.PublishRequest{Payload: []byte("x")})
		wantCode(t, "publish without topic", err, 400)
		_, err = e.stream.Publish(ctx, &pb.PublishRequest{Topic: "has space"})
		wantCode(t, "topic with a space", err, 400)
		_, err = e.stream.Publish(ctx, &pb.PublishRequest{Topic: strings.Repeat("t", MaxTopicSize+1)})
		wantCode(t, "long topic", err, 400)
		_, err = e.store.Read(ctx, &pb.ReadRequest{})
		wantCode(t, "read without topic", err, 400)
		_, err = e.store.Read(ctx, &pb.ReadRequest{Topic: "t", Limit: MaxReadLimit + 1})
		wantCode(t, "read over the limit", err, 400)
		_, err = e.topics.Update(ctx, &pb.UpdateTopicRequest{Topic: "t", Retention: -1})
		wantCode(t, "negative retention", err, 400)

		bad := []struct {
			what string
			req  *pb.ConsumeRequest
		}{
			{"no topic", &pb.ConsumeRequest{AutoAck: true}},
			{"manual ack without ack_wait", &pb.ConsumeRequest{Topic: "t"}},
			{"negative ack_wait", &pb.ConsumeRequest{Topic: "t", AckWait: -1}},
			{"retry_limit below -1", &pb.ConsumeRequest{Topic: "t", AutoAck: true, RetryLimit: -2}},
			{"two starts", &pb.ConsumeRequest{Topic: "t", AutoAck: true, Offset: 5, Sequence: 2}},
			{"negative offset", &pb.ConsumeRequest{Topic: "t", AutoAck: true, Offset: -5}},
			// Sequence numbers are SQLite integers: a larger one would wrap
			// negative and replay the whole topic.
			{"sequence past the last there can be", &pb.ConsumeRequest{Topic: "t", AutoAck: true, Sequence: math.MaxUint64}},
			{"sequence past int64", &pb.ConsumeRequest{Topic: "t", AutoAck: true, Sequence: math.MaxInt64 + 1}},
			{"ack first", &pb.ConsumeRequest{Topic: "t", AutoAck: true, Ack: &pb.AckRequest{Id: "x"}}},
		}
		for _, b := range bad {
			c := e.consume(t, b.req)
			wantCode(t, b.what, c.ended(), 400)
		}

		// Later messages may only ack; an ack names a pending event.
		e.publish(t, "t", "1")
		c := e.consume(t, &pb.ConsumeRequest{Topic: "t", AutoAck: true})
		c.next()
		c.stream.Send(&pb.ConsumeRequest{Topic: "again", AutoAck: true})
		wantCode(t, "a second subscription", c.ended(), 400)

		c = e.consume(t, &pb.ConsumeRequest{Topic: "t", AckWait: int64(time.Hour)})
		c.next()
		c.ack("no-such-id", true)
		me := wantCode(t, "ack of an unknown id", c.ended(), 400)
		if !strings.Contains(me.Detail, "no-such-id") {
			t.Fatalf("detail: %s", me.Detail)
		}
		c = e.consume(t, &pb.ConsumeRequest{Topic: "t", AckWait: int64(time.Hour)})
		c.next()
		c.ack("", true)
		wantCode(t, "ack without id", c.ended(), 400)
	})
}

// TestReplayStarts: a consumer starts at the oldest retained event, at a
// time, at a sequence number, or at new events only.
func TestReplayStarts(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		clk := testkit.NewClock()
		e := newEnv(t, append(with, WithClock(clk.Now), WithRetention(time.Hour))...)
		start := clk.Now()
		for i := 1; i <= 10; i++ {
			e.publish(t, "orders", fmt.Sprint(i))
			clk.Advance(time.Minute) // event i is published at start + (i-1) minutes
		}
		span := func(from, to int) []string {
			var out []string
			for i := from; i <= to; i++ {
				out = append(out, fmt.Sprint(i))
			}
			return out
		}
		check := func(what string, req *pb.ConsumeRequest, want []string) *consumer {
			t.Helper()
			req.Topic, req.AutoAck = "orders", true
			c := e.consume(t, req)
			if got := c.payloads(len(want)); !slices.Equal(got, want) {
				t.Fatalf("%s: got %v, want %v", what, got, want)
			}
			return c
		}

		check("oldest", &pb.ConsumeRequest{}, span(1, 10)).cancel()
		check("sequence", &pb.ConsumeRequest{Sequence: 7}, span(7, 10)).cancel()
		// Offset is unix seconds: the first event published at or after it.
		check("offset on an event", &pb.ConsumeRequest{Offset: start.Add(4 * time.Minute).Unix()}, span(5, 10)).cancel()
		check("offset between events", &pb.ConsumeRequest{Offset: start.Add(4*time.Minute + 30*time.Second).Unix()}, span(6, 10)).cancel()
		check("offset before all", &pb.ConsumeRequest{Offset: start.Add(-time.Hour).Unix()}, span(1, 10)).cancel()

		// Starts after the end wait for new events; so does new_only.
		late := check("offset after all", &pb.ConsumeRequest{Offset: clk.Now().Add(time.Hour).Unix()}, nil)
		fresh := check("new only", &pb.ConsumeRequest{NewOnly: true}, nil)
		ahead := check("sequence ahead", &pb.ConsumeRequest{Sequence: 12}, nil)
		e.waitConsumers(t, "orders", 3) // subscribed before the publishes below
		e.publish(t, "orders", "11")
		e.publish(t, "orders", "12")
		if got := fresh.payloads(2); !slices.Equal(got, span(11, 12)) {
			t.Fatalf("new only: %v", got)
		}
		if got := ahead.payloads(1); !slices.Equal(got, span(12, 12)) {
			t.Fatalf("sequence ahead: %v", got)
		}
		if got := late.payloads(2); !slices.Equal(got, span(11, 12)) {
			t.Fatalf("offset after all (published since, at the clock's now): %v", got)
		}

		// Expired events are hidden at once: at start + 1h3m30s, events 1-4
		// (published at start + 0-3 minutes) are past the hour's retention.
		clk.Advance(53*time.Minute + 30*time.Second)
		check("oldest retained", &pb.ConsumeRequest{}, span(5, 12))
		check("sequence before the oldest retained", &pb.ConsumeRequest{Sequence: 2}, span(5, 12))
	})
}

// TestRetention: per-topic retention, hiding, sweeping and the topic list.
func TestRetention(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		clk := testkit.NewClock()
		e := newEnv(t, append(with, WithClock(clk.Now))...)
		ctx := t.Context()
		for i := range 3 {
			e.publish(t, "short", fmt.Sprint(i))
			e.publish(t, "long", fmt.Sprint(i))
		}
		rsp, err := e.topics.Update(ctx, &pb.UpdateTopicRequest{Topic: "short", Retention: 60})
		if err != nil || rsp.Topic.Retention != 60 || !rsp.Topic.RetentionSet || rsp.Topic.LastSequence != 3 {
			t.Fatalf("update: %v %v", rsp, err)
		}
		clk.Advance(2 * time.Minute)
		if n := len(e.read(t, "short")); n != 0 {
			t.Fatalf("short topic still shows %d events after its retention", n)
		}
		if n := len(e.read(t, "long")); n != 3 {
			t.Fatalf("long topic shows %d events, want 3 within the default 24h", n)
		}
		count := func() int { return e.storedEvents(t) }
		if count() != 6 {
			t.Fatal("hidden events are deleted later, by the sweeper")
		}
		if n, err := e.events.Sweep(ctx); err != nil || n != 3 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if count() != 3 {
			t.Fatalf("after sweep %d rows", count())
		}
		// Sequence numbers carry on after a sweep.
		if seq := e.publish(t, "short", "3"); seq != 4 {
			t.Fatalf("sequence after sweep: %d", seq)
		}
		clk.Advance(24 * time.Hour)
		if n, err := e.events.Sweep(ctx); err != nil || n != 4 { // long's 3, short's 4th
			t.Fatalf("default retention sweep: %d %v", n, err)
		}
		list, err := e.topics.List(ctx, &pb.ListTopicsRequest{})
		if err != nil || len(list.Topics) != 2 {
			t.Fatalf("list: %v %v", list, err)
		}
		long, short := list.Topics[0], list.Topics[1]
		if long.Name != "long" || long.FirstSequence != 4 || long.LastSequence != 3 || long.Retention != 86400 || long.RetentionSet {
			t.Fatalf("long: %v", long)
		}
		if short.Name != "short" || short.FirstSequence != 5 || short.LastSequence != 4 || short.Retention != 60 {
			t.Fatalf("short: %v", short)
		}
		// 0 returns a topic to the default.
		rsp, err = e.topics.Update(ctx, &pb.UpdateTopicRequest{Topic: "short"})
		if err != nil || rsp.Topic.Retention != 86400 || rsp.Topic.RetentionSet {
			t.Fatalf("reset: %v %v", rsp, err)
		}
	})
}

// TestConcurrentPublish: concurrent publishes get distinct, gapless
// sequence numbers and read back in that order.
func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		const writers, each = 16, 25
		var wg sync.WaitGroup
		seqs := make(chan uint64, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					seqs <- e.publish(t, "c", fmt.Sprintf("%d-%d", w, i))
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := map[uint64]bool{}
		for s := range seqs {
			if seen[s] || s < 1 || s > writers*each {
				t.Fatalf("sequence %d repeated or out of range", s)
			}
			seen[s] = true
		}
		evs := e.read(t, "c")
		for i, ev := range evs {
			if ev.Sequence != uint64(i+1) {
				t.Fatalf("read order: event %d has sequence %d", i, ev.Sequence)
			}
		}
		if len(evs) != writers*each {
			t.Fatalf("read %d events", len(evs))
		}
	})
}

func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		c := e.consume(t, &pb.ConsumeRequest{Topic: "t", AutoAck: true})
		e.publish(t, "t", "x")
		c.next()
		e.events.Close()
		wantCode(t, "consume after close", c.ended(), 503)
		// Publishing still works until the database closes.
		e.publish(t, "t", "y")
	})
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, filepath.Join(t.TempDir(), "micro.db"), func(ctx context.Context, ns string, admin bool) error {
		return errors.Forbidden("micro", "access denied to namespace %s", ns)
	})
	_, err := e.stream.Publish(t.Context(), &pb.PublishRequest{Topic: "t"})
	wantCode(t, "publish", err, 403)
	wantCode(t, "consume", e.consume(t, &pb.ConsumeRequest{Topic: "t", AutoAck: true}).ended(), 403)
	_, err = e.store.Read(t.Context(), &pb.ReadRequest{Topic: "t"})
	wantCode(t, "read", err, 403)
}

// TestJSON: the JSON form the gateway and CLI see, and a Consume over JSON.
func TestJSON(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		var rsp codec.Frame
		err := e.conn.Invoke(t.Context(), "/events.Stream/Publish", &codec.Frame{Data: []byte(`{"topic":"j","payload":"eyJhIjoxfQ=="}`)},
			&rsp, grpc.CallContentSubtype(codec.JSON))
		if err != nil || !strings.Contains(string(rsp.Data), `"sequence":"1"`) {
			t.Fatalf("publish: %s %v", rsp.Data, err)
		}
		cs, err := e.conn.NewStream(t.Context(), &pb.Stream_ServiceDesc.Streams[0], "/events.Stream/Consume", grpc.CallContentSubtype(codec.JSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&codec.Frame{Data: []byte(`{"topic":"j","auto_ack":true}`)}); err != nil {
			t.Fatal(err)
		}
		var ev codec.Frame
		if err := cs.RecvMsg(&ev); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Data), `"payload":"eyJhIjoxfQ=="`) || !strings.Contains(string(ev.Data), `"sequence":"1"`) {
			t.Fatalf("event: %s", ev.Data)
		}
	})
}
