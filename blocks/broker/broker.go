// Package broker is the broker block: Micro's broker.Broker service,
// fire-and-forget pub/sub kept in memory. Topics are per namespace (the
// caller's namespace prefixes the topic, as in Micro); a subscriber with a
// queue shares the topic with the other members of that queue (each message
// goes to one of them), every other subscriber gets every message.
//
// Nothing is stored: a message published while nobody subscribes is gone.
// Use the events block for durable streams.
//
// A slow subscriber never holds up a publisher: each has a buffer of
// DefaultBuffer messages, and one whose buffer is full when a message
// arrives for it is disconnected (its stream ends with a 429), as a NATS
// server drops a slow consumer. The message is lost to it; it can
// subscribe again. A queue's message goes to a member with room; only when
// every member is full is the next one in turn disconnected.
package broker

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/broker"
)

// DefaultBuffer is how many messages may wait for one subscriber.
const DefaultBuffer = 1024

// MaxTopicSize bounds topic and queue names, in bytes.
const MaxTopicSize = 255

const errID = "broker"

// Broker is the broker block. Its exported handler methods implement
// pb.BrokerServer; Register serves them.
type Broker struct {
	pb.UnimplementedBrokerServer

	buffer int
	log    *slog.Logger
	authz  auth.Authorizer

	nc *nats.Conn // nats.go: set in a cluster

	mu     sync.Mutex
	topics map[topicKey]*topic
	closed bool
}

type topicKey struct{ ns, topic string }

// topic is who listens to one topic of a namespace.
type topic struct {
	subs   []*subscriber
	queues map[string]*queue
}

type queue struct {
	members []*subscriber
	next    int // round robin
}

// subscriber is one Subscribe stream.
type subscriber struct {
	ch   chan *pb.Message
	done chan struct{}
	once sync.Once
	err  error
}

func (s *subscriber) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// offer queues m without blocking; false when the buffer is full.
func (s *subscriber) offer(m *pb.Message) bool {
	select {
	case s.ch <- m:
		return true
	default:
		return false
	}
}

// Option configures New.
type Option func(*Broker)

// WithBuffer sets how many messages may wait for one subscriber.
func WithBuffer(n int) Option {
	return func(b *Broker) { b.buffer = n }
}

// WithLogger sets where the broker logs; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(b *Broker) { b.log = l }
}

// New returns a broker. It has no tables: everything is in memory. Every
// call needs an account of its namespace by authz (as in Micro); nil
// refuses every call.
func New(authz auth.Authorizer, opts ...Option) *Broker {
	b := &Broker{authz: authz, buffer: DefaultBuffer, log: slog.Default(), topics: map[topicKey]*topic{}}
	for _, o := range opts {
		o(b)
	}
	if b.buffer <= 0 {
		b.buffer = DefaultBuffer
	}
	return b
}

// Register serves the broker.Broker service on gs.
func (b *Broker) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterBrokerServer(gs, b)
}

// Start does nothing: the broker has no background work.
func (b *Broker) Start(context.Context) error { return nil }

// Close ends the subscriptions (EndStreams); nothing else is held. The
// error is always nil: Close is an io.Closer.
func (b *Broker) Close() error {
	b.EndStreams()
	return nil
}

// EndStreams ends every subscription (with a 503) and refuses new ones;
// call it before the gRPC server drains.
func (b *Broker) EndStreams() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for k, t := range b.topics {
		for _, s := range t.subs {
			s.end(errShuttingDown)
		}
		for _, q := range t.queues {
			for _, s := range q.members {
				s.end(errShuttingDown)
			}
		}
		delete(b.topics, k)
	}
}

var errShuttingDown = errors.ServiceUnavailable(errID, "broker is shutting down")

// Publish delivers a message to the topic's subscribers now, without
// waiting for them. The call's metadata is copied into the message header
// where the header does not already set it (credentials excepted), and
// Micro-Topic names the topic.
func (b *Broker) Publish(ctx context.Context, req *pb.PublishRequest) (*pb.Empty, error) {
	ns, err := b.scope(ctx, req.GetTopic())
	if err != nil {
		return nil, err
	}
	msg := &pb.Message{Header: map[string]string{}, Body: req.GetMessage().GetBody()}
	for k, v := range req.GetMessage().GetHeader() {
		msg.Header[k] = v
	}
	for k, v := range metadata.FromContext(ctx) {
		if _, set := msg.Header[k]; !set && forwardable(k) {
			msg.Header[k] = v
		}
	}
	if _, set := msg.Header["Micro-Topic"]; !set {
		msg.Header["Micro-Topic"] = req.GetTopic()
	}
	if b.nc != nil {
		if err := b.publishNATS(topicKey{ns, req.GetTopic()}, msg); err != nil {
			return nil, err
		}
		return &pb.Empty{}, nil
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	k := topicKey{ns, req.GetTopic()}
	t := b.topics[k]
	if t == nil {
		return &pb.Empty{}, nil
	}
	t.subs = slices.DeleteFunc(t.subs, func(s *subscriber) bool {
		if s.offer(msg) {
			return false
		}
		s.end(errors.TooManyRequests(errID, "subscriber to %s too slow: %d messages waiting; subscribe again", k.topic, b.buffer))
		return true
	})
	for name, q := range t.queues {
		b.offerQueue(k.topic, q, msg)
		if len(q.members) == 0 {
			delete(t.queues, name)
		}
	}
	if len(t.subs) == 0 && len(t.queues) == 0 {
		delete(b.topics, k)
	}
	return &pb.Empty{}, nil
}

// offerQueue gives msg to the next member of q with room.
func (b *Broker) offerQueue(topic string, q *queue, msg *pb.Message) {
	n := len(q.members)
	for i := range n {
		s := q.members[(q.next+i)%n]
		if s.offer(msg) {
			q.next = (q.next + i + 1) % n
			return
		}
	}
	// Everyone is full: the one whose turn it was goes.
	i := q.next % n
	q.members[i].end(errors.TooManyRequests(errID, "queue subscriber to %s too slow: %d messages waiting; subscribe again", topic, b.buffer))
	q.members = append(q.members[:i], q.members[i+1:]...)
	if len(q.members) > 0 {
		q.next %= len(q.members)
	}
}

// Subscribe streams the topic's messages until the caller goes away. With
// a queue, the caller shares messages with the queue's other members.
func (b *Broker) Subscribe(req *pb.SubscribeRequest, stream grpc.ServerStreamingServer[pb.Message]) error {
	ctx := stream.Context()
	ns, err := b.scope(ctx, req.GetTopic())
	if err != nil {
		return err
	}
	if len(req.GetQueue()) > MaxTopicSize {
		return errors.BadRequest(errID, "queue is %d bytes; the limit is %d", len(req.GetQueue()), MaxTopicSize)
	}
	s := &subscriber{ch: make(chan *pb.Message, b.buffer), done: make(chan struct{})}
	k := topicKey{ns, req.GetTopic()}
	if err := b.add(k, req.GetQueue(), s); err != nil {
		return err
	}
	defer b.remove(k, req.GetQueue(), s)
	if b.nc != nil {
		// The members are kept above too, for EndStreams; NATS delivers.
		stop, err := b.subscribeNATS(k, req.GetQueue(), s)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Headers now tell the client the subscription is in place, before any
	// message: a publish after that reaches it (framework/broker waits).
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case m := <-s.ch:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-s.done:
			return s.err
		case <-ctx.Done():
			return nil
		}
	}
}

func (b *Broker) add(k topicKey, queueName string, s *subscriber) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errShuttingDown
	}
	t := b.topics[k]
	if t == nil {
		t = &topic{queues: map[string]*queue{}}
		b.topics[k] = t
	}
	if queueName == "" {
		t.subs = append(t.subs, s)
		return nil
	}
	q := t.queues[queueName]
	if q == nil {
		q = &queue{}
		t.queues[queueName] = q
	}
	q.members = append(q.members, s)
	return nil
}

func (b *Broker) remove(k topicKey, queueName string, s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[k]
	if t == nil {
		return
	}
	same := func(x *subscriber) bool { return x == s }
	if queueName == "" {
		t.subs = slices.DeleteFunc(t.subs, same)
	} else if q := t.queues[queueName]; q != nil {
		q.members = slices.DeleteFunc(q.members, same)
		if len(q.members) == 0 {
			delete(t.queues, queueName)
		} else {
			q.next %= len(q.members)
		}
	}
	if len(t.subs) == 0 && len(t.queues) == 0 {
		delete(b.topics, k)
	}
}

// scope checks the caller may act on its namespace and the topic is valid.
func (b *Broker) scope(ctx context.Context, topic string) (string, error) {
	ns := metadata.NamespaceFrom(ctx)
	if err := b.authz.Check(ctx, ns, false); err != nil {
		return "", errors.FromError(err, errID)
	}
	if topic == "" {
		return "", errors.BadRequest(errID, "topic is required")
	}
	if len(topic) > MaxTopicSize {
		return "", errors.BadRequest(errID, "topic is %d bytes; the limit is %d", len(topic), MaxTopicSize)
	}
	return ns, nil
}

// forwardable reports whether a call's metadata key may travel in a
// message: not credentials, nor the transport's own headers.
func forwardable(k string) bool {
	switch {
	case k == metadata.Authorization, k == "content-type", k == "user-agent", k == metadata.Timeout,
		strings.HasPrefix(k, ":"), strings.HasPrefix(k, "grpc-"):
		return false
	}
	return true
}
