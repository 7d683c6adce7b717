package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"micro.dev/micro/framework/broker"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node/nodetest"
)

// inbox collects what a handler is given.
type inbox struct {
	mu   sync.Mutex
	msgs []*broker.Message
}

func (in *inbox) handle(m *broker.Message) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
	return nil
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) bodies() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, m := range in.msgs {
		out = append(out, string(m.Body))
	}
	return out
}

// TestPublishSubscribe: every subscriber gets every message, in order; the
// members of a queue share them; after Unsubscribe nothing more arrives.
func TestPublishSubscribe(t *testing.T) {
	n := nodetest.Start(t)
	b := broker.NewBroker(n.Client(client.Options{}), broker.Logger(nodetest.Quiet()))
	var all, q1, q2 inbox
	subAll, err := b.Subscribe("alerts", all.handle)
	if err != nil {
		t.Fatal(err)
	}
	if subAll.Topic() != "alerts" {
		t.Fatalf("topic %q", subAll.Topic())
	}
	s1, err := b.Subscribe("alerts", q1.handle, broker.Queue("workers"))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Unsubscribe()
	s2, err := b.Subscribe("alerts", q2.handle, broker.Queue("workers"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Unsubscribe()
	if s2.Options().Queue != "workers" {
		t.Fatalf("options %+v", s2.Options())
	}

	// Subscribe returned once the subscriptions were in place, so nothing
	// published now is missed.
	const total = 20
	for i := range total {
		if err := b.Publish("alerts", &broker.Message{Header: map[string]string{"n": fmt.Sprint(i)}, Body: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 20*time.Second, "every message", func() bool { return all.count() == total && q1.count()+q2.count() == total })
	for i, body := range all.bodies() {
		if body != fmt.Sprint(i) {
			t.Fatalf("subscriber got %v, want 0..%d in order", all.bodies(), total-1)
		}
	}
	if q1.count() == 0 || q2.count() == 0 {
		t.Fatalf("queue members got %d and %d: not shared", q1.count(), q2.count())
	}
	m := all.msgs[0]
	if m.Header["n"] != "0" || m.Header["Micro-Topic"] != "alerts" {
		t.Fatalf("header %v", m.Header)
	}
	if _, leaked := m.Header["authorization"]; leaked {
		t.Fatal("the publisher's credentials reached the subscriber")
	}

	subAll.Unsubscribe()
	b.Publish("alerts", &broker.Message{Body: []byte("late")})
	testkit.Eventually(t, 20*time.Second, "the queue to get the late message", func() bool { return q1.count()+q2.count() == total+1 })
	if all.count() != total {
		t.Fatalf("a handler was called after Unsubscribe: %v", all.bodies())
	}

	if _, err := b.Subscribe("", all.handle); errors.Code(err) != 400 {
		t.Fatalf("no topic: %v", err)
	}
	if _, err := b.Subscribe("x", nil); errors.Code(err) != 400 {
		t.Fatalf("no handler: %v", err)
	}
}

// TestSubscribeResumes: a subscription outlives a server restart.
func TestSubscribeResumes(t *testing.T) {
	n := nodetest.Start(t)
	b := broker.NewBroker(n.Client(client.Options{}), broker.Logger(nodetest.Quiet()))
	var in inbox
	sub, err := b.Subscribe("ticks", in.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.Publish("ticks", &broker.Message{Body: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the first message", func() bool { return in.count() == 1 })

	n.Restart()
	// The broker keeps nothing: publish until the subscriber is back.
	testkit.Eventually(t, 20*time.Second, "a message after the restart", func() bool {
		b.Publish("ticks", &broker.Message{Body: []byte("after")})
		return in.count() > 1
	})
	if got := in.bodies(); got[0] != "before" || got[1] != "after" {
		t.Fatalf("got %v", got)
	}
}

// TestPackageLevel: inside a service, broker.Publish/Subscribe use its
// client.
func TestPackageLevel(t *testing.T) {
	n := nodetest.Start(t)
	srv := service.New(service.Name("notifier"), service.Proxy(n.Proxy()), service.Credentials("admin", "micro"),
		service.Logger(nodetest.Quiet()), service.HandleSignal(false))
	defer srv.Stop()
	var in inbox
	sub, err := broker.Subscribe("pings", in.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := broker.Publish("pings", &broker.Message{Body: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the ping", func() bool { return in.count() == 1 })
}
