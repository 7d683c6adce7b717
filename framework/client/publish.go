package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/codec"
	brokerpb "micro.dev/micro/proto/broker"
)

// Message is what Publish sends to a topic's subscribers, as Micro's.
type Message interface {
	Topic() string
	Payload() any
	ContentType() string
}

// MessageOption configures NewMessage.
type MessageOption func(*message)

// WithMessageContentType sets the encoding: application/protobuf (proto
// messages only) or application/json.
func WithMessageContentType(ct string) MessageOption {
	return func(m *message) { m.contentType = ct }
}

type message struct {
	topic, contentType string
	payload            any
}

func (m *message) Topic() string       { return m.topic }
func (m *message) Payload() any        { return m.payload }
func (m *message) ContentType() string { return m.contentType }

// NewMessage returns a message of payload for topic: protobuf for a proto
// message, JSON for anything else, unless an option says otherwise.
func NewMessage(topic string, payload any, opts ...MessageOption) Message {
	m := &message{topic: topic, payload: payload, contentType: "application/json"}
	if _, ok := payload.(proto.Message); ok {
		m.contentType = "application/protobuf"
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// PublishOption configures one Publish (none yet; Micro's shape).
type PublishOption func(*PublishOptions)

// PublishOptions are the settings of one Publish.
type PublishOptions struct{}

// Publish sends msg through the broker block to the subscribers of its
// topic in the client's namespace, as Micro's client.Publish; subscribers
// (service.Subscribe) decode it by its Content-Type header.
func Publish(ctx context.Context, msg Message, opts ...PublishOption) error {
	c, err := DefaultOrError()
	if err != nil {
		return err
	}
	return PublishWith(ctx, c, msg)
}

// PublishWith is Publish through c.
func PublishWith(ctx context.Context, c Client, msg Message) error {
	if msg == nil || msg.Payload() == nil {
		return errors.New("publish: the message is nil")
	}
	var (
		body []byte
		err  error
	)
	switch ct := msg.ContentType(); ct {
	case "application/protobuf", "application/x-protobuf", "application/grpc+proto":
		pm, ok := msg.Payload().(proto.Message)
		if !ok {
			return fmt.Errorf("publish to %s: %s needs a protobuf message, not %T", msg.Topic(), ct, msg.Payload())
		}
		body, err = proto.Marshal(pm)
	case "application/json", "application/grpc+json":
		body, err = codec.MarshalJSON(msg.Payload())
	default:
		return fmt.Errorf("publish to %s: content type %q: use application/json or application/protobuf", msg.Topic(), ct)
	}
	if err != nil {
		return fmt.Errorf("publish to %s: %w", msg.Topic(), err)
	}
	req := &brokerpb.PublishRequest{Topic: msg.Topic(), Message: &brokerpb.Message{
		Header: map[string]string{"Content-Type": msg.ContentType()}, Body: body}}
	return c.Call(ctx, c.NewRequest("broker", "Broker.Publish", req), new(brokerpb.Empty))
}
