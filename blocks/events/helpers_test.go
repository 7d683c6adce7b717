package events

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	_ "micro.dev/micro/framework/codec" // the json codec, for calls with content subtype json
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/events"
	"micro.dev/micro/schema"
)

// env is an events block on a database file, served over loopback gRPC.
type env struct {
	with   []Option // the backend's options, to open it again
	path   string
	db     *schema.DB
	events *Events
	gs     *grpc.Server
	conn   *grpc.ClientConn
	stream pb.StreamClient
	store  pb.StoreClient
	topics pb.TopicsClient
	once   sync.Once
}

func newEnv(tb testing.TB, opts ...Option) *env {
	tb.Helper()
	return newEnvAt(tb, filepath.Join(tb.TempDir(), "micro.db"), opts...)
}

// newEnvAt serves an events block on the database file at path, to the
// default admin under Micro's namespace rule.
func newEnvAt(tb testing.TB, path string, opts ...Option) *env {
	tb.Helper()
	return newEnvWith(tb, path, auth.Namespaces, opts...)
}

// newEnvWith is newEnvAt with authz deciding every call.
func newEnvWith(tb testing.TB, path string, authz auth.Authorizer, opts ...Option) *env {
	tb.Helper()
	db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{with: opts, path: path, db: db, events: New(db, authz, opts...)}
	e.events.Start(context.Background())

	e.gs = grpc.NewServer(blocktest.As(blocktest.Admin)...)
	e.events.Register(e.gs)
	e.conn = testkit.Dial(tb, testkit.Serve(tb, e.gs))
	e.stream, e.store, e.topics = pb.NewStreamClient(e.conn), pb.NewStoreClient(e.conn), pb.NewTopicsClient(e.conn)
	tb.Cleanup(func() { e.stop(tb) })
	return e
}

// stop shuts the env down as a node does: block, server, database. It may
// be called more than once.
func (e *env) stop(tb testing.TB) {
	e.once.Do(func() {
		e.events.EndStreams()
		e.gs.GracefulStop()
		e.events.Close()
		e.conn.Close()
		if err := e.db.Close(); err != nil {
			tb.Error(err)
		}
	})
}

func (e *env) publish(tb testing.TB, topic, payload string) uint64 {
	tb.Helper()
	rsp, err := e.stream.Publish(tb.Context(), &pb.PublishRequest{Topic: topic, Payload: []byte(payload)})
	if err != nil {
		tb.Fatalf("publish %s %s: %v", topic, payload, err)
	}
	return rsp.Sequence
}

func (e *env) read(tb testing.TB, topic string) []*pb.Event {
	tb.Helper()
	rsp, err := e.store.Read(tb.Context(), &pb.ReadRequest{Topic: topic, Limit: MaxReadLimit})
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	return rsp.Events
}

// consumer is one Consume stream and the events it received.
type consumer struct {
	tb     testing.TB
	cancel context.CancelFunc
	stream pb.Stream_ConsumeClient
	events chan *pb.Event
	done   chan struct{}
	err    error
}

// consume opens a Consume stream with req as its subscription.
func (e *env) consume(tb testing.TB, req *pb.ConsumeRequest) *consumer {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	stream, err := e.stream.Consume(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := stream.Send(req); err != nil {
		tb.Fatal(err)
	}
	c := &consumer{tb: tb, cancel: cancel, stream: stream, events: make(chan *pb.Event, 100000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			ev, err := stream.Recv()
			if err != nil {
				c.err = err
				return
			}
			c.events <- ev
		}
	}()
	tb.Cleanup(cancel)
	return c
}

// next returns the next event, failing the test after 10s.
func (c *consumer) next() *pb.Event {
	c.tb.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-c.done:
		select {
		case ev := <-c.events:
			return ev
		default:
		}
		c.tb.Fatalf("stream ended: %v", c.err)
	case <-time.After(10 * time.Second):
		c.tb.Fatal("no event within 10s")
	}
	return nil
}

// payloads returns the payloads of the next n events.
func (c *consumer) payloads(n int) []string {
	c.tb.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = string(c.next().Payload)
	}
	return out
}

func (c *consumer) ack(id string, success bool) {
	c.tb.Helper()
	if err := c.stream.Send(&pb.ConsumeRequest{Ack: &pb.AckRequest{Id: id, Success: success}}); err != nil {
		c.tb.Fatalf("ack %s: %v", id, err)
	}
}

// ended waits for the stream to end and returns its error.
func (c *consumer) ended() error {
	c.tb.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(10 * time.Second):
		c.tb.Fatal("stream still open after 10s")
	}
	return nil
}

// waitMembers waits until a group of a topic (in namespace micro) has n
// members, so a test knows all its consumers joined before it publishes.
func (e *env) waitMembers(tb testing.TB, topic, group string, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := e.events.hub
		h.mu.Lock()
		got := 0
		if ts := h.topics[topicKey{"micro", topic}]; ts != nil {
			if g := ts.groups[group]; g != nil {
				got = len(g.members)
			}
		}
		h.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("group %s of %s has %d members, want %d", group, topic, got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitConsumers waits until a topic (in namespace micro) has n consumers
// in all.
func (e *env) waitConsumers(tb testing.TB, topic string, n int) {
	tb.Helper()
	testkit.Eventually(tb, 10*time.Second, fmt.Sprintf("%d consumers of %s", n, topic), func() bool {
		h := e.events.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		got := 0
		if ts := h.topics[topicKey{"micro", topic}]; ts != nil {
			for _, g := range ts.groups {
				got += len(g.members)
			}
		}
		return got == n
	})
}

func wantCode(tb testing.TB, what string, err error, code int32) *errors.Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: no error, want %d", what, code)
	}
	me := errors.FromError(err, "")
	if me.Code != code {
		tb.Fatalf("%s: %v, want code %d", what, err, code)
	}
	return me
}

// forEachBackend runs test over each backend: SQLite (no options) and
// JetStream on a fresh single server.
func forEachBackend(t *testing.T, test func(t *testing.T, with ...Option)) {
	blocktest.EachBackend(t, func(js jetstream.JetStream) []Option { return []Option{WithJetStream(js, 1)} },
		func(t *testing.T, with ...Option) {
			t.Parallel()
			test(t, with...)
		})
}

// storedEvents counts the events the backend holds, hidden ones included.
func (e *env) storedEvents(tb testing.TB) int {
	tb.Helper()
	if b, ok := e.events.backend.(*jsBackend); ok {
		subjects, err := b.subjects(tb.Context(), subjEvent+">")
		if err != nil {
			tb.Fatal(err)
		}
		return len(subjects)
	}
	var n int
	if err := e.db.Read().QueryRow(`SELECT count(*) FROM events_events`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// group is a durable group of namespace micro as saved.
func (e *env) group(tb testing.TB, topic, group string) GroupState {
	tb.Helper()
	g, _, err := e.events.backend.LoadGroup(tb.Context(), "micro", topic, group)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}
