package server

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/codec"
)

// Message is a published message as a subscriber wrapper sees it.
type Message interface {
	Topic() string
	// Payload is the decoded message the subscriber gets.
	Payload() any
	ContentType() string
	Header() map[string]string
	// Body is the message's encoded bytes.
	Body() []byte
}

// SubscriberFunc is one delivery of a message to a subscriber.
type SubscriberFunc func(ctx context.Context, msg Message) error

// SubscriberWrapper is middleware around every delivery, as Micro's; it may
// refuse a message by returning an error without calling next.
type SubscriberWrapper func(next SubscriberFunc) SubscriberFunc

// SubscriberOption configures one subscription.
type SubscriberOption func(*SubscriberOptions)

// SubscriberOptions are the settings of one subscription.
type SubscriberOptions struct {
	// Queue shares the topic's messages among the subscribers with the
	// same queue name: each message goes to one of them.
	Queue string
}

// SubscriberQueue puts the subscription in queue group name.
func SubscriberQueue(name string) SubscriberOption {
	return func(o *SubscriberOptions) { o.Queue = name }
}

// Subscriber is a topic's handler ready to take messages: a function
// func(ctx, *Msg) error, or a value whose exported methods of that shape
// each take every message.
type Subscriber struct {
	Topic   string
	Options SubscriberOptions
	fns     []subscriberFn
}

type subscriberFn struct {
	fn  reflect.Value
	msg reflect.Type // pointer type
}

// NewSubscriber checks h's shape for topic.
func NewSubscriber(topic string, h any, opts ...SubscriberOption) (*Subscriber, error) {
	if topic == "" {
		return nil, fmt.Errorf("subscribe: the topic is empty")
	}
	if h == nil {
		return nil, fmt.Errorf("subscribe %s: the subscriber is nil", topic)
	}
	sub := &Subscriber{Topic: topic}
	for _, o := range opts {
		o(&sub.Options)
	}
	v := reflect.ValueOf(h)
	if v.Kind() == reflect.Func {
		if !subscriberShape(v.Type()) {
			return nil, fmt.Errorf("subscribe %s: a subscriber function is func(context.Context, *Msg) error, not %s", topic, v.Type())
		}
		sub.fns = append(sub.fns, subscriberFn{fn: v, msg: v.Type().In(1)})
		return sub, nil
	}
	for i := 0; i < v.NumMethod(); i++ {
		if m := v.Method(i); v.Type().Method(i).IsExported() && subscriberShape(m.Type()) {
			sub.fns = append(sub.fns, subscriberFn{fn: m, msg: m.Type().In(1)})
		}
	}
	if len(sub.fns) == 0 {
		return nil, fmt.Errorf("subscribe %s: %s has no methods func(context.Context, *Msg) error", topic, v.Type())
	}
	return sub, nil
}

func subscriberShape(t reflect.Type) bool {
	return t.NumIn() == 2 && t.In(0) == contextType && t.In(1).Kind() == reflect.Pointer &&
		t.NumOut() == 1 && t.Out(0) == errorType
}

// Deliver decodes body (protobuf when contentType says so, else JSON) for
// each of the subscriber's functions and calls it through ws (the first
// outermost). It returns the first error.
func (s *Subscriber) Deliver(ctx context.Context, ws []SubscriberWrapper, header map[string]string, body []byte) error {
	ct := header["Content-Type"]
	if ct == "" {
		ct = header["content-type"]
	}
	var first error
	for _, f := range s.fns {
		payload := reflect.New(f.msg.Elem())
		if err := decodeMessage(ct, body, payload.Interface()); err != nil {
			if first == nil {
				first = fmt.Errorf("message on %s does not decode as %s: %w", s.Topic, f.msg.Elem(), err)
			}
			continue
		}
		fn := SubscriberFunc(func(ctx context.Context, _ Message) error {
			err, _ := f.fn.Call([]reflect.Value{reflect.ValueOf(ctx), payload})[0].Interface().(error)
			return err
		})
		for i := len(ws) - 1; i >= 0; i-- {
			fn = ws[i](fn)
		}
		msg := &message{topic: s.Topic, payload: payload.Interface(), contentType: ct, header: header, body: body}
		if err := fn(ctx, msg); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func decodeMessage(contentType string, body []byte, v any) error {
	if m, ok := v.(proto.Message); ok && strings.Contains(contentType, "proto") {
		return proto.Unmarshal(body, m)
	}
	return codec.UnmarshalJSON(body, v)
}

type message struct {
	topic, contentType string
	payload            any
	header             map[string]string
	body               []byte
}

func (m *message) Topic() string             { return m.topic }
func (m *message) Payload() any              { return m.payload }
func (m *message) ContentType() string       { return m.contentType }
func (m *message) Header() map[string]string { return m.header }
func (m *message) Body() []byte              { return m.body }
