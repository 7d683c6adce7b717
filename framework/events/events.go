// Package events is the events block's client for services: durable,
// ordered topics with replay, consumer groups and acknowledgements.
//
// Inside a service the package-level functions use the service's client
// (installed by service.New), in the service's namespace.
//
//	err := events.Publish("orders", Order{ID: 1})   // JSON unless msg is []byte
//
//	evs, err := events.Consume("orders", events.Group("billing"), events.AutoAck(false))
//	for ev := range evs {
//		var o Order
//		if err := ev.Unmarshal(&o); err != nil { ev.Nack(); continue }
//		...
//		ev.Ack()
//	}
//
// NewStream and NewStore build clients over any client (tests, several
// servers).
package events

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/events"
)

const errID = "go.micro.events"

// Event is one event of a topic.
type Event struct {
	// ID is the event's id, unique within its topic.
	ID    string
	Topic string
	// Timestamp is when the event was published (whole seconds).
	Timestamp time.Time
	Metadata  map[string]string
	Payload   []byte
	// Sequence is the event's place in its topic, from 1, never reused.
	Sequence uint64

	ackFunc func(success bool) error
}

// Unmarshal decodes the payload as JSON into v (protojson for proto
// messages).
func (e *Event) Unmarshal(v any) error {
	if err := codec.UnmarshalJSON(e.Payload, v); err != nil {
		return errors.BadRequest(errID, "event %s of %s: decoding the payload: %v", e.ID, e.Topic, err)
	}
	return nil
}

// Ack acknowledges the event, so its group will not get it again. It does
// nothing for events consumed with AutoAck (the default) or read with Read.
func (e *Event) Ack() error {
	if e.ackFunc == nil {
		return nil
	}
	return e.ackFunc(true)
}

// Nack gives the event back: the group delivers it again at once (to this
// consumer or another member), until RetryLimit sends it to the dead-letter
// topic <topic>.dead. It does nothing for auto-acked or read events.
func (e *Event) Nack() error {
	if e.ackFunc == nil {
		return nil
	}
	return e.ackFunc(false)
}

func fromProto(ev *pb.Event) Event {
	e := Event{ID: ev.GetId(), Topic: ev.GetTopic(), Metadata: ev.GetMetadata(), Payload: ev.GetPayload(),
		Sequence: ev.GetSequence()}
	if ts := ev.GetTimestamp(); ts > 0 {
		e.Timestamp = time.Unix(ts, 0)
	}
	return e
}

// Stream publishes and consumes events.
type Stream interface {
	// Publish adds msg to topic: []byte as it is, anything else as JSON.
	Publish(topic string, msg any, opts ...PublishOption) error
	// Consume delivers topic's events on the channel: see ConsumeOption
	// for where it starts, groups and acks.
	Consume(topic string, opts ...ConsumeOption) (<-chan Event, error)
}

// Store reads events a topic still retains.
type Store interface {
	// Read returns events of topic, oldest first.
	Read(topic string, opts ...ReadOption) ([]*Event, error)
}

// ClientOption configures NewStream and NewStore.
type ClientOption func(*rpcEvents)

// Logger sets where consumers report reconnections; default slog.Default().
func Logger(l *slog.Logger) ClientOption { return func(e *rpcEvents) { e.log = l } }

// WithContext makes Publish and Read call with ctx, a handler's say, so
// they are part of its trace and end with it (as store.WithContext does).
// Consume is not bound to it: a consumer lives until its own Context ends.
func WithContext(ctx context.Context) ClientOption { return func(e *rpcEvents) { e.ctx = ctx } }

// rpcEvents calls the events block; it is both a Stream and a Store.
type rpcEvents struct {
	c   client.Client
	log *slog.Logger
	ctx context.Context
}

func newRPC(c client.Client, opts []ClientOption) *rpcEvents {
	e := &rpcEvents{c: c, log: slog.Default(), ctx: context.Background()}
	for _, o := range opts {
		o(e)
	}
	if e.ctx == nil {
		e.ctx = context.Background()
	}
	return e
}

// NewStream returns a Stream calling the events block through c, in c's
// namespace.
func NewStream(c client.Client, opts ...ClientOption) Stream { return newRPC(c, opts) }

// NewStore returns a Store calling the events block through c, in c's
// namespace.
func NewStore(c client.Client, opts ...ClientOption) Store { return newRPC(c, opts) }

// PublishOptions are the settings of one Publish.
type PublishOptions struct {
	Metadata  map[string]string
	Timestamp time.Time
}

// PublishOption sets a PublishOptions field.
type PublishOption func(*PublishOptions)

// WithMetadata attaches metadata to the event.
func WithMetadata(md map[string]string) PublishOption {
	return func(o *PublishOptions) { o.Metadata = md }
}

// WithTimestamp sets the event's publish time (the server's clock by
// default).
func WithTimestamp(t time.Time) PublishOption { return func(o *PublishOptions) { o.Timestamp = t } }

func (e *rpcEvents) Publish(topic string, msg any, opts ...PublishOption) error {
	var o PublishOptions
	for _, opt := range opts {
		opt(&o)
	}
	if topic == "" {
		return errors.BadRequest(errID, "a topic is required")
	}
	payload, ok := msg.([]byte)
	if !ok {
		var err error
		if payload, err = codec.MarshalJSON(msg); err != nil {
			return errors.BadRequest(errID, "the message for %s does not encode as JSON: %v", topic, err)
		}
	}
	req := &pb.PublishRequest{Topic: topic, Metadata: o.Metadata, Payload: payload}
	if !o.Timestamp.IsZero() {
		req.Timestamp = o.Timestamp.Unix()
	}
	return e.c.Call(e.ctx, e.c.NewRequest("events", "Stream.Publish", req), new(pb.PublishResponse))
}

// ReadOptions are the settings of one Read.
type ReadOptions struct {
	// Limit is how many events at most; the server's default is 250.
	Limit uint
	// Offset skips that many of the oldest retained events.
	Offset uint
}

// ReadOption sets a ReadOptions field.
type ReadOption func(*ReadOptions)

// ReadLimit returns at most l events.
func ReadLimit(l uint) ReadOption { return func(o *ReadOptions) { o.Limit = l } }

// ReadOffset skips the first o retained events.
func ReadOffset(off uint) ReadOption { return func(o *ReadOptions) { o.Offset = off } }

func (e *rpcEvents) Read(topic string, opts ...ReadOption) ([]*Event, error) {
	var o ReadOptions
	for _, opt := range opts {
		opt(&o)
	}
	rsp := new(pb.ReadResponse)
	req := &pb.ReadRequest{Topic: topic, Limit: uint64(o.Limit), Offset: uint64(o.Offset)}
	if err := e.c.Call(e.ctx, e.c.NewRequest("events", "Store.Read", req), rsp); err != nil {
		return nil, err
	}
	out := make([]*Event, len(rsp.GetEvents()))
	for i, ev := range rsp.GetEvents() {
		e := fromProto(ev)
		out[i] = &e
	}
	return out, nil
}

// Defaults the package-level functions use instead of clients over the
// service's client, when set.
var (
	streamOverride atomic.Pointer[Stream]
	storeOverride  atomic.Pointer[Store]
)

// SetDefaultStream makes the package-level Publish and Consume use s; nil
// goes back to the service's client.
func SetDefaultStream(s Stream) {
	if s == nil {
		streamOverride.Store(nil)
		return
	}
	streamOverride.Store(&s)
}

// SetDefaultStore makes the package-level Read use s; nil goes back to the
// service's client.
func SetDefaultStore(s Store) {
	if s == nil {
		storeOverride.Store(nil)
		return
	}
	storeOverride.Store(&s)
}

// DefaultStream is the Stream the package-level functions use: the one
// given to SetDefaultStream, else one over the service's client.
func DefaultStream() (Stream, error) {
	if s := streamOverride.Load(); s != nil {
		return *s, nil
	}
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewStream(c), nil
}

// DefaultStore is the Store the package-level Read uses: the one given to
// SetDefaultStore, else one over the service's client.
func DefaultStore() (Store, error) {
	if s := storeOverride.Load(); s != nil {
		return *s, nil
	}
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewStore(c), nil
}

// Publish publishes through the default stream (see Stream.Publish).
func Publish(topic string, msg any, opts ...PublishOption) error {
	s, err := DefaultStream()
	if err != nil {
		return err
	}
	return s.Publish(topic, msg, opts...)
}

// Consume consumes through the default stream (see Stream.Consume).
func Consume(topic string, opts ...ConsumeOption) (<-chan Event, error) {
	s, err := DefaultStream()
	if err != nil {
		return nil, err
	}
	return s.Consume(topic, opts...)
}

// Read reads through the default store (see Store.Read).
func Read(topic string, opts ...ReadOption) ([]*Event, error) {
	s, err := DefaultStore()
	if err != nil {
		return nil, err
	}
	return s.Read(topic, opts...)
}
