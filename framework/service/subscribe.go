package service

import (
	"context"
	"fmt"
	"sync"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/broker"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/server"
)

// subscriptions are a service's subscribers: added before Run, subscribed
// through the broker block once the service is registered, unsubscribed
// at Stop.
type subscriptions struct {
	mu     sync.Mutex
	subs   []*server.Subscriber
	active []broker.Subscriber
	open   bool
}

// Subscribe makes h take the messages published on topic (in the service's
// namespace), as Micro's: h is func(ctx, *Msg) error, or a value whose
// exported methods of that shape each take every message. Messages are
// decoded from JSON, or protobuf when their Content-Type says so. Add
// subscribers before Run; they start once the service is registered.
func (s *Service) Subscribe(topic string, h any, opts ...server.SubscriberOption) error {
	sub, err := server.NewSubscriber(topic, h, opts...)
	if err != nil {
		return err
	}
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	if s.subs.open {
		return fmt.Errorf("subscribe %s: the service is already running; subscribe before Run", topic)
	}
	s.subs.subs = append(s.subs.subs, sub)
	return nil
}

func (ss *subscriptions) start(s *Service) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.open = true
	if len(ss.subs) == 0 {
		return nil
	}
	b := broker.NewBroker(s.caller, broker.Logger(s.log))
	for _, sub := range ss.subs {
		deliver := func(m *broker.Message) error {
			ctx := grpcmd.NewIncomingContext(context.Background(), grpcmd.New(m.Header))
			err := sub.Deliver(ctx, s.opts.SubscriberWrappers, m.Header, m.Body)
			if err != nil {
				s.log.Warn("Subscriber failed", "topic", sub.Topic, "err", err)
			}
			return err
		}
		var bopts []broker.SubscribeOption
		if q := sub.Options.Queue; q != "" {
			bopts = append(bopts, broker.Queue(q))
		}
		active, err := b.Subscribe(sub.Topic, deliver, bopts...)
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", sub.Topic, err)
		}
		ss.active = append(ss.active, active)
	}
	return nil
}

func (ss *subscriptions) stop() {
	ss.mu.Lock()
	active := ss.active
	ss.active = nil
	ss.mu.Unlock()
	for _, a := range active {
		a.Unsubscribe()
	}
}

// Event publishes messages to a topic, as Micro's service.NewEvent.
type Event struct{ topic string }

// NewEvent returns a publisher of topic.
func NewEvent(topic string) *Event { return &Event{topic: topic} }

// Publish sends msg to the topic's subscribers through the default
// service's client: protobuf messages as protobuf, anything else as JSON
// (client.Publish).
func (e *Event) Publish(ctx context.Context, msg any) error {
	return client.Publish(ctx, client.NewMessage(e.topic, msg))
}
