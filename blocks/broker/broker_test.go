package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/broker"
)

type env struct {
	broker *Broker
	client pb.BrokerClient
}

// newEnv serves a broker to the default admin under Micro's namespace rule.
func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	return newEnvWith(t, auth.Namespaces, opts...)
}

// newEnvWith is newEnv with authz deciding every call.
func newEnvWith(t *testing.T, authz auth.Authorizer, opts ...Option) *env {
	t.Helper()
	b := New(authz, opts...)
	gs := grpc.NewServer(blocktest.As(blocktest.Admin)...)
	b.Register(gs)
	conn := testkit.Dial(t, testkit.Serve(t, gs))
	t.Cleanup(func() { b.Close() })
	return &env{broker: b, client: pb.NewBrokerClient(conn)}
}

// sub is a Subscribe stream and what it received.
type sub struct {
	t    *testing.T
	msgs chan *pb.Message
	done chan struct{}
	err  error
}

func (e *env) subscribe(t *testing.T, ctx context.Context, topic, queue string, read bool) (*sub, pb.Broker_SubscribeClient) {
	t.Helper()
	stream, err := e.client.Subscribe(ctx, &pb.SubscribeRequest{Topic: topic, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	s := &sub{t: t, msgs: make(chan *pb.Message, 10000), done: make(chan struct{})}
	if read {
		go func() {
			defer close(s.done)
			for {
				m, err := stream.Recv()
				if err != nil {
					s.err = err
					return
				}
				s.msgs <- m
			}
		}()
	}
	return s, stream
}

func (s *sub) next() *pb.Message {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-s.done:
		s.t.Fatalf("stream ended: %v", s.err)
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message within 10s")
	}
	return nil
}

// waitSubscribers waits until n streams subscribe to topic in namespace micro.
func (e *env) waitSubscribers(t *testing.T, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.broker.mu.Lock()
		got := 0
		if tp := e.broker.topics[topicKey{"micro", topic}]; tp != nil {
			got = len(tp.subs)
			for _, q := range tp.queues {
				got += len(q.members)
			}
		}
		e.broker.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of %s, want %d", got, topic, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) publish(t *testing.T, ctx context.Context, topic, body string) {
	t.Helper()
	if _, err := e.client.Publish(ctx, &pb.PublishRequest{Topic: topic, Message: &pb.Message{Body: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
}

func TestPublishSubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a, _ := e.subscribe(t, ctx, "news", "", true)
	b, _ := e.subscribe(t, ctx, "news", "", true)
	tenant, _ := e.subscribe(t, metadata.Set(ctx, metadata.Namespace, "tenant"), "news", "", true)
	e.waitSubscribers(t, "news", 2)

	pctx := metadata.NewContext(ctx, metadata.Metadata{"x-trace": "t1", metadata.Authorization: "Bearer secret"})
	if _, err := e.client.Publish(pctx, &pb.PublishRequest{Topic: "news",
		Message: &pb.Message{Header: map[string]string{"x-trace": "mine"}, Body: []byte("first")}}); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 20; i++ {
		e.publish(t, pctx, "news", strconv.Itoa(i))
	}
	for name, s := range map[string]*sub{"a": a, "b": b} {
		m := s.next()
		if string(m.Body) != "first" || m.Header["x-trace"] != "mine" || m.Header["Micro-Topic"] != "news" {
			t.Fatalf("%s: %v", name, m)
		}
		if _, leaked := m.Header[metadata.Authorization]; leaked {
			t.Fatalf("%s: credentials copied into the message: %v", name, m.Header)
		}
		for i := 2; i <= 20; i++ {
			m := s.next()
			if string(m.Body) != strconv.Itoa(i) || m.Header["x-trace"] != "t1" {
				t.Fatalf("%s message %d: %v", name, i, m)
			}
		}
	}
	// Another namespace's topic of the same name heard nothing; its own
	// publishes reach it.
	e.publish(t, metadata.Set(ctx, metadata.Namespace, "tenant"), "news", "tenant-only")
	if m := tenant.next(); string(m.Body) != "tenant-only" {
		t.Fatalf("tenant got %q first", m.Body)
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	var members []*sub
	for range 3 {
		s, _ := e.subscribe(t, ctx, "jobs", "workers", true)
		members = append(members, s)
	}
	all, _ := e.subscribe(t, ctx, "jobs", "", true)
	other, _ := e.subscribe(t, ctx, "jobs", "auditors", true)
	e.waitSubscribers(t, "jobs", 5)
	const n = 90
	for i := range n {
		e.publish(t, ctx, "jobs", strconv.Itoa(i))
	}
	seen := map[string]int{}
	for i, s := range members {
		for range n / 3 { // round robin: a third each
			seen[string(s.next().Body)]++
		}
		select {
		case m := <-s.msgs:
			t.Fatalf("member %d got more than its share: %q", i, m.Body)
		default:
		}
	}
	for i := range n {
		if seen[strconv.Itoa(i)] != 1 {
			t.Fatalf("message %d reached the queue %d times", i, seen[strconv.Itoa(i)])
		}
		if m := all.next(); string(m.Body) != strconv.Itoa(i) {
			t.Fatalf("plain subscriber: %q, want %d", m.Body, i)
		}
		if m := other.next(); string(m.Body) != strconv.Itoa(i) {
			t.Fatalf("a queue of one: %q, want %d", m.Body, i)
		}
	}
}

// TestSlowSubscriber: a subscriber that stops reading never blocks a
// publisher; it is disconnected with a 429 and the others carry on.
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithBuffer(4))
	ctx := t.Context()
	fast, _ := e.subscribe(t, ctx, "big", "", true)
	_, slow := e.subscribe(t, ctx, "big", "", false) // never reads until the end
	e.waitSubscribers(t, "big", 2)

	body := make([]byte, 64<<10) // a few fill the transport's window
	const n = 40
	// The fast subscriber takes each message before the next is published,
	// so only the slow one falls behind, however slow this machine is.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			if _, err := e.client.Publish(ctx, &pb.PublishRequest{Topic: "big", Message: &pb.Message{Body: body}}); err != nil {
				t.Error(err)
				return
			}
			fast.next()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishers blocked by a slow subscriber")
	}
	var err error
	got := 0
	for {
		if _, err = slow.Recv(); err != nil {
			break
		}
		got++
	}
	if errors.FromError(err, "").Code != 429 || got >= n {
		t.Fatalf("slow subscriber: %d messages then %v", got, err)
	}
	e.waitSubscribers(t, "big", 1)
}

func TestBadInputAndClose(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(ctx context.Context, ns string, admin bool) error {
		if ns == "locked" {
			return errors.Unauthorized("micro", "an account is required")
		}
		return nil
	})
	ctx := t.Context()
	_, err := e.client.Publish(ctx, &pb.PublishRequest{Message: &pb.Message{Body: []byte("x")}})
	if errors.FromError(err, "").Code != 400 {
		t.Fatalf("publish without topic: %v", err)
	}
	s, _ := e.subscribe(t, ctx, "", "", true)
	<-s.done
	if errors.FromError(s.err, "").Code != 400 {
		t.Fatalf("subscribe without topic: %v", s.err)
	}
	_, err = e.client.Publish(metadata.Set(ctx, metadata.Namespace, "locked"), &pb.PublishRequest{Topic: "t"})
	if errors.FromError(err, "").Code != 401 {
		t.Fatalf("unauthorized publish: %v", err)
	}
	// Publishing to nobody is fine.
	e.publish(t, ctx, "nobody", "x")

	live, _ := e.subscribe(t, ctx, "t", "", true)
	e.waitSubscribers(t, "t", 1)
	e.broker.Close()
	<-live.done
	if errors.FromError(live.err, "").Code != 503 {
		t.Fatalf("after close: %v", live.err)
	}
	late, _ := e.subscribe(t, ctx, "t", "", true)
	<-late.done
	if errors.FromError(late.err, "").Code != 503 {
		t.Fatalf("subscribe after close: %v", late.err)
	}
}
