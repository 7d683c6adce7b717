package events_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/events"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/node/nodetest"
	regpb "micro.dev/micro/proto/registry"
)

type order struct {
	ID   int    `json:"id"`
	Item string `json:"item"`
}

// next receives one event, failing after a deadline.
func next(t *testing.T, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the consumer's channel closed")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return events.Event{}
}

// payloads receives n events and returns their payloads.
func payloads(t *testing.T, ch <-chan events.Event, n int) []string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, string(next(t, ch).Payload))
	}
	return out
}

func newStream(t *testing.T, n *nodetest.Server) events.Stream {
	return events.NewStream(n.Client(client.Options{}), events.Logger(nodetest.Quiet()))
}

func TestPublishRead(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{})
	s, st := events.NewStream(c), events.NewStore(c)

	if err := s.Publish("orders", order{ID: 1, Item: "book"}, events.WithMetadata(map[string]string{"source": "test"})); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish("orders", []byte("raw bytes")); err != nil {
		t.Fatal(err)
	}
	// A proto message goes as micro's JSON (proto field names).
	if err := s.Publish("orders", &regpb.Node{Id: "n1", Address: "a:1"}); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Read("orders")
	if err != nil || len(evs) != 3 {
		t.Fatalf("read: %v %v", evs, err)
	}
	var o order
	if err := evs[0].Unmarshal(&o); err != nil || o != (order{1, "book"}) || evs[0].Metadata["source"] != "test" {
		t.Fatalf("first: %+v %v %v", o, err, evs[0].Metadata)
	}
	if evs[0].Topic != "orders" || evs[0].ID == "" || evs[0].Sequence != 1 || time.Since(evs[0].Timestamp) > time.Minute {
		t.Fatalf("first event's fields: %+v", evs[0])
	}
	if string(evs[1].Payload) != "raw bytes" || evs[1].Sequence != 2 {
		t.Fatalf("second: %q", evs[1].Payload)
	}
	var node regpb.Node
	if err := evs[2].Unmarshal(&node); err != nil || node.Id != "n1" || !strings.Contains(string(evs[2].Payload), `"address":"a:1"`) {
		t.Fatalf("proto: %s %v", evs[2].Payload, err)
	}
	if err := evs[1].Unmarshal(&o); errors.Code(err) != 400 {
		t.Fatalf("unmarshalling raw bytes as JSON: %v", err)
	}
	// Events read are not consumed: acking them does nothing.
	if evs[0].Ack() != nil || evs[0].Nack() != nil {
		t.Fatal("ack of a read event")
	}
	if evs, err := st.Read("orders", events.ReadOffset(1), events.ReadLimit(1)); err != nil || len(evs) != 1 || evs[0].Sequence != 2 {
		t.Fatalf("read with offset and limit: %v %v", evs, err)
	}
	if err := s.Publish("", "x"); errors.Code(err) != 400 {
		t.Fatalf("no topic: %v", err)
	}
	if err := s.Publish("orders", make(chan int)); errors.Code(err) != 400 {
		t.Fatalf("unencodable: %v", err)
	}
	ts := time.Unix(1_700_000_000, 0)
	if err := s.Publish("stamped", "x", events.WithTimestamp(ts)); err != nil {
		t.Fatal(err)
	}
}

// TestConsumeStarts: from the oldest retained event (the default), from a
// sequence number, from an offset time, or only new events; then live.
func TestConsumeStarts(t *testing.T) {
	n := nodetest.Start(t)
	s := newStream(t, n)
	for i := 1; i <= 3; i++ {
		if err := s.Publish("t", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	oldest, err := s.Consume("t", events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	fromTwo, err := s.Consume("t", events.Sequence(2), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	fromPast, err := s.Consume("t", events.Offset(time.Now().Add(-time.Hour)), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, err := s.Consume("t", events.NewOnly(), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// The subscriptions are in place: what is published now reaches them.
	if err := s.Publish("t", []byte("4")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ch   <-chan events.Event
		want []string
	}{
		"oldest": {oldest, []string{"1", "2", "3", "4"}},
		"seq 2":  {fromTwo, []string{"2", "3", "4"}},
		"offset": {fromPast, []string{"1", "2", "3", "4"}},
		"new":    {onlyNew, []string{"4"}},
	} {
		if got := payloads(t, tc.ch, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	cancel()
	if _, ok := <-oldest; ok {
		// One more event may have been in hand; the channel must close.
		if _, ok := <-oldest; ok {
			t.Fatal("channel still open after the context ended")
		}
	}

	// Refusals are Consume's error.
	if _, err := s.Consume(""); errors.Code(err) != 400 {
		t.Fatalf("no topic: %v", err)
	}
	if _, err := s.Consume("t", events.Sequence(1), events.NewOnly()); errors.Code(err) != 400 {
		t.Fatalf("two starts: %v", err)
	}
	if _, err := s.Consume("t", events.RetryLimit(-5)); errors.Code(err) != 400 {
		t.Fatalf("bad retry limit: %v", err)
	}
}

// TestGroups: the members of a group share the events (each once), and
// every group gets every event.
func TestGroups(t *testing.T) {
	n := nodetest.Start(t)
	s := newStream(t, n)
	const total = 40
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var billing []<-chan events.Event
	for range 2 {
		ch, err := s.Consume("orders", events.Group("billing"), events.AutoAck(false), events.Context(ctx))
		if err != nil {
			t.Fatal(err)
		}
		billing = append(billing, ch)
	}
	audit, err := s.Consume("orders", events.Group("audit"), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if err := s.Publish("orders", order{ID: i}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	for len(seen) < total {
		var ev events.Event
		select {
		case ev = <-billing[0]:
		case ev = <-billing[1]:
		case <-time.After(20 * time.Second):
			t.Fatalf("billing saw %d of %d", len(seen), total)
		}
		var o order
		if err := ev.Unmarshal(&o); err != nil {
			t.Fatal(err)
		}
		seen[o.ID]++
		if err := ev.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	for id, times := range seen {
		if times != 1 {
			t.Fatalf("billing got order %d %d times", id, times)
		}
	}
	var ids []int
	for range total {
		var o order
		ev := next(t, audit)
		ev.Unmarshal(&o)
		ids = append(ids, o.ID)
	}
	for i, id := range ids {
		if id != i {
			t.Fatalf("audit saw %v, want every order in order", ids)
		}
	}
}

// TestAcks: a nacked event comes again, an unacked one comes again after
// AckWait, and after RetryLimit redeliveries it goes to <topic>.dead.
func TestAcks(t *testing.T) {
	n := nodetest.Start(t)
	s := newStream(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// AckWait long enough that a loaded machine acks within it: an ack
	// arriving after it counts as a missed delivery and dead-letters the event.
	ch, err := s.Consume("jobs", events.Group("workers"), events.AutoAck(false), events.AckWait(2*time.Second),
		events.RetryLimit(1), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish("jobs", []byte("nack me")); err != nil {
		t.Fatal(err)
	}
	first := next(t, ch)
	if err := first.Nack(); err != nil {
		t.Fatal(err)
	}
	again := next(t, ch)
	if again.ID != first.ID || string(again.Payload) != "nack me" {
		t.Fatalf("after a nack: %+v", again)
	}
	if err := again.Ack(); err != nil {
		t.Fatal(err)
	}

	if err := s.Publish("jobs", []byte("ignore me")); err != nil {
		t.Fatal(err)
	}
	ignored := next(t, ch)
	if string(ignored.Payload) != "ignore me" {
		t.Fatalf("got %q; the acked event came again?", ignored.Payload)
	}
	// Not acked: delivered once more after AckWait (RetryLimit 1), then
	// dead-lettered.
	redelivered := next(t, ch)
	if redelivered.ID != ignored.ID {
		t.Fatalf("redelivery: %+v", redelivered)
	}
	dead, err := s.Consume("jobs.dead", events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	d := next(t, dead)
	if string(d.Payload) != "ignore me" || d.Metadata["Micro-Dead-Letter-Id"] != ignored.ID {
		t.Fatalf("dead letter: %+v", d)
	}
}

// TestConsumeResumes: consumers outlive a server restart. One without a
// group carries on after the last event it received; a group's unacked
// event comes again (acking it on the old stream is refused), and nothing
// is lost.
func TestConsumeResumes(t *testing.T) {
	n := nodetest.Start(t)
	s := newStream(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 1; i <= 3; i++ {
		if err := s.Publish("feed", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := s.Consume("feed", events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	group, err := s.Consume("feed", events.Group("g"), events.AutoAck(false), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if got := payloads(t, plain, 3); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("before: %v", got)
	}
	for i := range 3 {
		ev := next(t, group)
		if i < 2 {
			if err := ev.Ack(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		defer func() {
			// Acked on the stream that has gone: refused, it comes again.
			if err := ev.Ack(); errors.Code(err) != 409 {
				t.Errorf("ack on an old stream: %v", err)
			}
		}()
	}

	n.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for i := 4; i <= 5; i++ {
		for err := s.Publish("feed", []byte(fmt.Sprint(i))); err != nil; err = s.Publish("feed", []byte(fmt.Sprint(i))) {
			if errors.Code(err) != 503 || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := payloads(t, plain, 2); !slices.Equal(got, []string{"4", "5"}) {
		t.Fatalf("plain consumer after the restart: %v, want 4 5", got)
	}
	// Acks are not confirmed by the server, so 1 and 2 may come again if
	// the restart overtook their acks (at least once); 3 must.
	var got []string
	for !slices.Contains(got, "5") {
		ev := next(t, group)
		if p := string(ev.Payload); p != "1" && p != "2" {
			got = append(got, p)
		}
		if err := ev.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Fatalf("group after the restart: %v, want the unacked 3, then 4 5", got)
	}
}

// TestPackageLevel: inside a service, events.Publish/Consume/Read use its
// client and namespace.
func TestPackageLevel(t *testing.T) {
	n := nodetest.Start(t)
	srv := service.New(service.Name("orders"), service.Namespace("micro"), service.Proxy(n.Proxy()),
		service.Credentials("admin", "micro"), service.Logger(nodetest.Quiet()), service.HandleSignal(false))
	defer srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := events.Consume("placed", events.NewOnly(), events.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Publish("placed", order{ID: 7}); err != nil {
		t.Fatal(err)
	}
	var o order
	if ev := next(t, ch); ev.Unmarshal(&o) != nil || o.ID != 7 {
		t.Fatalf("consumed %+v", ev)
	}
	if evs, err := events.Read("placed"); err != nil || len(evs) != 1 {
		t.Fatalf("read %v %v", evs, err)
	}
}
