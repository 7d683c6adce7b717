// Package broker is the broker block's client for services: fire-and-forget
// publish/subscribe kept in the server's memory, with queue groups.
//
// Inside a service the package-level functions use the service's client
// (installed by service.New); topics are the service's namespace's.
//
//	sub, err := broker.Subscribe("alerts", func(m *broker.Message) error {
//		log.Printf("alert: %s", m.Body)
//		return nil
//	}, broker.Queue("workers"))
//	defer sub.Unsubscribe()
//	err = broker.Publish("alerts", &broker.Message{Body: []byte("disk full")})
//
// A message published while nobody subscribes is gone; use the events
// package for durable topics. NewBroker builds one over any client.
package broker

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/broker"
)

const errID = "go.micro.broker"

// Reconnection backoff of a subscriber whose stream broke.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// Message is what is published: headers and a body. The server adds
// Micro-Topic and the publishing call's metadata (never its credentials)
// to the header.
type Message struct {
	Header map[string]string
	Body   []byte
}

// Handler processes one message. Its error is logged; the broker has no
// redelivery.
type Handler func(*Message) error

// Subscriber is a subscription.
type Subscriber interface {
	Topic() string
	Options() SubscribeOptions
	// Unsubscribe ends the subscription: no handler call starts after it
	// returns (one in progress may finish).
	Unsubscribe() error
}

// Broker publishes and subscribes.
type Broker interface {
	Publish(topic string, m *Message, opts ...PublishOption) error
	// Subscribe calls h with each message of topic, one at a time, until
	// Unsubscribe. The subscription is in place when Subscribe returns.
	Subscribe(topic string, h Handler, opts ...SubscribeOption) (Subscriber, error)
}

// PublishOption configures one Publish (none yet; kept for Micro's shape).
type PublishOption func(*PublishOptions)

// PublishOptions are the settings of one Publish.
type PublishOptions struct{}

// SubscribeOptions are the settings of one Subscribe.
type SubscribeOptions struct {
	// Queue shares the topic with the queue's other members: each message
	// goes to one of them.
	Queue string
}

// SubscribeOption sets a SubscribeOptions field.
type SubscribeOption func(*SubscribeOptions)

// Queue makes the subscriber a member of the named queue group.
func Queue(name string) SubscribeOption { return func(o *SubscribeOptions) { o.Queue = name } }

// ClientOption configures NewBroker.
type ClientOption func(*rpcBroker)

// Logger sets where subscribers report handler errors and reconnections;
// default slog.Default().
func Logger(l *slog.Logger) ClientOption { return func(b *rpcBroker) { b.log = l } }

type rpcBroker struct {
	c   client.Client
	log *slog.Logger
}

// NewBroker returns a Broker calling the broker block through c, in c's
// namespace.
func NewBroker(c client.Client, opts ...ClientOption) Broker {
	b := &rpcBroker{c: c, log: slog.Default()}
	for _, o := range opts {
		o(b)
	}
	return b
}

func (b *rpcBroker) Publish(topic string, m *Message, opts ...PublishOption) error {
	if m == nil {
		m = &Message{}
	}
	req := &pb.PublishRequest{Topic: topic, Message: &pb.Message{Header: m.Header, Body: m.Body}}
	return b.c.Call(context.Background(), b.c.NewRequest("broker", "Broker.Publish", req), new(pb.Empty))
}

type subscriber struct {
	b      *rpcBroker
	topic  string
	opts   SubscribeOptions
	h      Handler
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the subscriber has stopped
}

func (s *subscriber) Topic() string             { return s.topic }
func (s *subscriber) Options() SubscribeOptions { return s.opts }

func (s *subscriber) Unsubscribe() error {
	s.cancel()
	return nil
}

// Subscribe subscribes to topic. When the stream breaks (the server
// restarts, or dropped the subscriber for being too slow) it subscribes
// again with backoff; messages published in between are lost, as the
// broker keeps nothing.
func (b *rpcBroker) Subscribe(topic string, h Handler, opts ...SubscribeOption) (Subscriber, error) {
	if h == nil {
		return nil, errors.BadRequest(errID, "a handler is required")
	}
	var o SubscribeOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{b: b, topic: topic, opts: o, h: h, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	st, err := s.open()
	if err != nil {
		cancel()
		return nil, err
	}
	go s.run(st)
	return s, nil
}

// open subscribes and waits until the server accepted the subscription.
func (s *subscriber) open() (client.Stream, error) {
	cl := s.b.c
	req := &pb.SubscribeRequest{Topic: s.topic, Queue: s.opts.Queue}
	st, err := cl.Stream(s.ctx, cl.NewRequest("broker", "Broker.Subscribe", req))
	if err != nil {
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		st.Close()
		return nil, err
	}
	st.CloseSend()
	if h, ok := st.(interface{ Header() (grpcmd.MD, error) }); ok {
		if _, err := h.Header(); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

func (s *subscriber) run(st client.Stream) {
	defer close(s.done)
	log := s.b.log.With("topic", s.topic, "queue", s.opts.Queue)
	for {
		err := s.read(st, log)
		st.Close()
		if s.ctx.Err() != nil {
			return
		}
		if errors.Code(err) == 499 {
			log.Info("broker subscriber ended: the client was closed")
			return
		}
		log.Warn("broker subscription interrupted; subscribing again", "err", err)
		for wait := retryMin; ; wait = min(wait*2, retryMax) {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(wait):
			}
			st, err = s.open()
			if err == nil {
				log.Info("broker subscription resumed")
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			switch errors.Code(err) {
			case 400, 401, 403, 499:
				log.Error("broker subscriber ended: subscribing again was refused", "err", err)
				return
			}
		}
	}
}

func (s *subscriber) read(st client.Stream, log *slog.Logger) error {
	for {
		m := new(pb.Message)
		if err := st.Recv(m); err != nil {
			if err == io.EOF {
				return errors.ServiceUnavailable(errID, "the server ended the subscription")
			}
			return err
		}
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		if err := s.h(&Message{Header: m.GetHeader(), Body: m.GetBody()}); err != nil {
			log.Warn("broker handler failed", "err", err)
		}
	}
}

// override is the Broker the package-level functions use instead of one
// over the default client, when set.
var override atomic.Pointer[Broker]

// SetDefault makes the package-level functions use b; nil goes back to the
// service's client.
func SetDefault(b Broker) {
	if b == nil {
		override.Store(nil)
		return
	}
	override.Store(&b)
}

// Default is the Broker the package-level functions use: the one given to
// SetDefault, else one over the service's client.
func Default() (Broker, error) {
	if b := override.Load(); b != nil {
		return *b, nil
	}
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewBroker(c), nil
}

// Publish publishes through the default broker (see Broker.Publish).
func Publish(topic string, m *Message, opts ...PublishOption) error {
	b, err := Default()
	if err != nil {
		return err
	}
	return b.Publish(topic, m, opts...)
}

// Subscribe subscribes through the default broker (see Broker.Subscribe).
func Subscribe(topic string, h Handler, opts ...SubscribeOption) (Subscriber, error) {
	b, err := Default()
	if err != nil {
		return nil, err
	}
	return b.Subscribe(topic, h, opts...)
}
