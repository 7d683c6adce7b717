package events

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/events"
)

// TestGroupsSplitAndEachSeesAll: each event goes to one member of a group,
// and every group (and every ungrouped consumer) sees every event, in order.
func TestGroupsSplitAndEachSeesAll(t *testing.T) {
	t.Parallel()
	for _, autoAck := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto_ack=%v", autoAck), func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, with ...Option) {
				e := newEnv(t, with...)
				sub := func(group string) *consumer {
					return e.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: group, AutoAck: autoAck, AckWait: int64(time.Hour)})
				}
				a1, a2, a3 := sub("billing"), sub("billing"), sub("billing")
				b := sub("shipping")
				solo1, solo2 := sub(""), sub("")
				e.waitMembers(t, "orders", "billing", 3)
				e.waitMembers(t, "orders", "shipping", 1)

				const n = 300
				for i := 1; i <= n; i++ {
					e.publish(t, "orders", strconv.Itoa(i))
				}
				want := make([]uint64, n)
				for i := range want {
					want[i] = uint64(i + 1)
				}
				// Whole-topic consumers see everything in order.
				for name, c := range map[string]*consumer{"shipping": b, "solo1": solo1, "solo2": solo2} {
					got := make([]uint64, n)
					for i := range got {
						ev := c.next()
						got[i] = ev.Sequence
						if !autoAck {
							c.ack(ev.Id, true)
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s saw %v...", name, got[:10])
					}
				}
				// The billing members share: together exactly once each, each
				// member some, each member in order.
				type got struct {
					member int
					ev     *pb.Event
				}
				merged := make(chan got, n)
				members := []*consumer{a1, a2, a3}
				for i, c := range members {
					go func() {
						for ev := range c.events {
							merged <- got{i, ev}
						}
					}()
				}
				var all []uint64
				counts := make([]int, len(members))
				last := make([]uint64, len(members))
				for len(all) < n {
					select {
					case g := <-merged:
						if g.ev.Sequence <= last[g.member] {
							t.Fatalf("member %d got %d after %d", g.member, g.ev.Sequence, last[g.member])
						}
						last[g.member] = g.ev.Sequence
						all = append(all, g.ev.Sequence)
						counts[g.member]++
						if !autoAck {
							members[g.member].ack(g.ev.Id, true)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("billing got %d of %d events", len(all), n)
					}
				}
				slices.Sort(all)
				if !slices.Equal(all, want) {
					t.Fatalf("billing got %d events, not each once", len(all))
				}
				for i, c := range counts {
					if c == 0 {
						t.Fatalf("billing member %d got nothing: %v", i, counts)
					}
				}
			})
		})
	}
}

// TestRedeliveryAndDeadLetter: an unacked event comes back after ack_wait,
// retry_limit times, then moves to <topic>.dead and comes back no more.
func TestRedeliveryAndDeadLetter(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		const ackWait = 100 * time.Millisecond
		dead := e.consume(t, &pb.ConsumeRequest{Topic: "jobs.dead", AutoAck: true})
		c := e.consume(t, &pb.ConsumeRequest{Topic: "jobs", Group: "workers", AckWait: int64(ackWait), RetryLimit: 2})
		e.waitMembers(t, "jobs", "workers", 1)
		t0 := time.Now()
		e.publish(t, "jobs", "job-1")

		var at []time.Time
		var id string
		for range 3 { // the delivery and two redeliveries
			ev := c.next()
			at = append(at, time.Now())
			if string(ev.Payload) != "job-1" || ev.Sequence != 1 {
				t.Fatalf("delivery: %v", ev)
			}
			if id != "" && ev.Id != id {
				t.Fatalf("redelivery has another id: %s vs %s", ev.Id, id)
			}
			id = ev.Id
		}
		// Each redelivery waits ack_wait after the delivery before it, which
		// was no earlier than the publish.
		for i, got := range at {
			if min := time.Duration(i) * ackWait; got.Sub(t0) < min {
				t.Fatalf("delivery %d came %s after the publish; ack_wait %s allows it no sooner than %s", i, got.Sub(t0), ackWait, min)
			}
		}
		d := dead.next()
		if d.Id == id || d.Metadata["Micro-Dead-Letter-Id"] != id || string(d.Payload) != "job-1" || d.Topic != "jobs.dead" || d.Metadata["Micro-Dead-Letter-Topic"] != "jobs" ||
			d.Metadata["Micro-Dead-Letter-Group"] != "workers" || d.Metadata["Micro-Dead-Letter-Deliveries"] != "3" ||
			d.Metadata["Micro-Dead-Letter-Sequence"] != "1" {
			t.Fatalf("dead letter: %v", d)
		}
		// Dead-lettering removed it from the group in the same transaction.
		if pending := e.group(t, "jobs", "workers").Pending; len(pending) != 0 {
			t.Fatalf("pending after dead-lettering: %v", pending)
		}
		// The next event flows, and job-1 does not come back.
		e.publish(t, "jobs", "job-2")
		ev := c.next()
		if string(ev.Payload) != "job-2" {
			t.Fatalf("after dead letter: %v", ev)
		}
		c.ack(ev.Id, true)
		c.ack(id, true) // a late ack of a dead-lettered event is no error
		e.publish(t, "jobs", "job-3")
		if ev := c.next(); string(ev.Payload) != "job-3" {
			t.Fatalf("after late ack: %v", ev)
		}
	})
}

// TestUnlimitedRetriesAndNack: retry_limit -1 never dead-letters; a nack
// brings the event back at once.
func TestUnlimitedRetriesAndNack(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		c := e.consume(t, &pb.ConsumeRequest{Topic: "t", AckWait: int64(5 * time.Millisecond), RetryLimit: -1})
		e.publish(t, "t", "x")
		for range 8 {
			c.next()
		}
		if n := len(e.read(t, "t.dead")); n != 0 {
			t.Fatalf("%d dead letters with unlimited retries", n)
		}
		// A nack redelivers long before a one-hour ack_wait.
		n := e.consume(t, &pb.ConsumeRequest{Topic: "t", AckWait: int64(time.Hour), RetryLimit: -1})
		first := n.next()
		n.ack(first.Id, false)
		again := n.next()
		if again.Id != first.Id {
			t.Fatalf("nack: got %v", again)
		}
		n.ack(again.Id, true)
	})
}

// TestCrashedConsumerRedelivery: a member that goes away without acking
// has its events sent to another member at once; acked ones never again.
func TestCrashedConsumerRedelivery(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, append(with, WithMaxInflight(4))...)
		sub := &pb.ConsumeRequest{Topic: "t", Group: "g", AckWait: int64(time.Hour), RetryLimit: -1}
		a := e.consume(t, sub)
		e.waitMembers(t, "t", "g", 1)
		for i := 1; i <= 6; i++ {
			e.publish(t, "t", strconv.Itoa(i))
		}
		// a holds 4 (its in-flight limit); acking two lets two more through;
		// then it crashes holding 3-6.
		var held []*pb.Event
		for range 4 {
			held = append(held, a.next())
		}
		a.ack(held[0].Id, true)
		a.ack(held[1].Id, true)
		if got := a.payloads(2); !slices.Equal(got, []string{"5", "6"}) {
			t.Fatalf("after two acks: %v", got)
		}
		a.cancel()

		b := e.consume(t, sub)
		var got []string
		for range 4 {
			ev := b.next()
			got = append(got, string(ev.Payload))
			b.ack(ev.Id, true)
		}
		if want := []string{"3", "4", "5", "6"}; !slices.Equal(got, want) {
			t.Fatalf("after the crash: %v, want %v", got, want)
		}
	})
}

// TestPositionsSurviveRestart: a durable group resumes where it was after
// the server restarts: acked events never again, unacked ones again, the
// rest in order.
func TestPositionsSurviveRestart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, append(with, WithMaxInflight(5))...)
		manual := &pb.ConsumeRequest{Topic: "t", Group: "manual", AckWait: int64(time.Hour), RetryLimit: -1}
		auto := &pb.ConsumeRequest{Topic: "t", Group: "auto", AutoAck: true}
		m := e.consume(t, manual)
		au := e.consume(t, auto)
		e.waitMembers(t, "t", "manual", 1)
		for i := 1; i <= 10; i++ {
			e.publish(t, "t", strconv.Itoa(i))
		}
		// manual holds 5 (its in-flight limit), acks 1-3, gets 6-8 for them
		// and acks nothing more.
		for i := 1; i <= 8; i++ {
			ev := m.next()
			if ev.Sequence != uint64(i) {
				t.Fatalf("manual: got %d, want %d", ev.Sequence, i)
			}
			if i <= 3 {
				m.ack(ev.Id, true)
			}
		}
		if got := au.payloads(10); got[9] != "10" {
			t.Fatalf("auto: %v", got)
		}
		testkit.Eventually(t, 10*time.Second, "auto position saved", func() bool {
			return e.group(t, "t", "auto").Next == 11
		})
		e.stop(t)

		e2 := newEnvAt(t, e.path, with...)
		m2 := e2.consume(t, manual)
		au2 := e2.consume(t, auto)
		e2.waitMembers(t, "t", "auto", 1)
		e2.publish(t, "t", "11")
		var got []string
		for range 8 {
			ev := m2.next()
			got = append(got, string(ev.Payload))
			m2.ack(ev.Id, true)
		}
		if want := []string{"4", "5", "6", "7", "8", "9", "10", "11"}; !slices.Equal(got, want) {
			t.Fatalf("manual group after restart: %v, want %v", got, want)
		}
		if ev := au2.next(); string(ev.Payload) != "11" {
			t.Fatalf("auto group after restart: %v", ev)
		}
	})
}

// TestMicroAck: a Micro client acks by sending a bare AckRequest on the
// stream, which reaches the server as a ConsumeRequest.
func TestMicroAck(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		e.publish(t, "t", "1")
		e.publish(t, "t", "2")
		cs, err := e.conn.NewStream(t.Context(), &pb.Stream_ServiceDesc.Streams[0], "/events.Stream/Consume")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&pb.ConsumeRequest{Topic: "t", Group: "g", AckWait: int64(time.Hour), RetryLimit: -1}); err != nil {
			t.Fatal(err)
		}
		recv := func() *pb.Event {
			ev := new(pb.Event)
			if err := cs.RecvMsg(ev); err != nil {
				t.Fatal(err)
			}
			return ev
		}
		first, second := recv(), recv()
		if err := cs.SendMsg(&pb.AckRequest{Id: first.Id, Success: true}); err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&pb.AckRequest{Id: second.Id, Success: false}); err != nil {
			t.Fatal(err)
		}
		if again := recv(); again.Id != second.Id {
			t.Fatalf("nack by AckRequest: got %v", again)
		}
		testkit.Eventually(t, 10*time.Second, "micro ack applied", func() bool {
			for _, p := range e.group(t, "t", "g").Pending {
				if p.ID == first.Id {
					return false
				}
			}
			return true
		})
		var _ grpc.ClientStream = cs
	})
}

// TestStopKeepsBufferedEvents: events the server had buffered for an
// auto-ack consumer that stopped reading go back to the group at shutdown,
// so the group gets each event exactly once across the restart.
func TestStopKeepsBufferedEvents(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, with ...Option) {
		e := newEnv(t, with...)
		const n = 600
		payload := make([]byte, 1024)
		for range n {
			if _, err := e.stream.Publish(t.Context(), &pb.PublishRequest{Topic: "t", Payload: payload}); err != nil {
				t.Fatal(err)
			}
		}
		sub := &pb.ConsumeRequest{Topic: "t", Group: "g", AutoAck: true}
		stream, err := e.stream.Consume(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(sub); err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]int{}
		for range 10 {
			ev, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			seen[ev.Sequence]++
		}
		// The client reads no more for now; the server fills its buffer and
		// the transport's window. Then the server stops.
		e.events.EndStreams()
		for {
			ev, err := stream.Recv()
			if err != nil {
				wantCode(t, "stream at shutdown", err, 503)
				break
			}
			seen[ev.Sequence]++
		}
		first := len(seen)
		e.stop(t)
		if first >= n {
			t.Fatalf("the first consumer got all %d events; nothing was left buffered to test", first)
		}

		e2 := newEnvAt(t, e.path, with...)
		c := e2.consume(t, sub)
		for len(seen) < n {
			seen[c.next().Sequence]++
		}
		for seq, k := range seen {
			if k != 1 || seq < 1 || seq > n {
				t.Fatalf("event %d delivered %d times", seq, k)
			}
		}
		t.Logf("first consumer got %d, the rest after the restart", first)
	})
}
