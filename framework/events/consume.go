package events

import (
	"context"
	"io"
	"sync"
	"time"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/events"
)

// DefaultAckWait is how long the server waits for an ack before it delivers
// an event again, when AutoAck is off and AckWait is not given.
const DefaultAckWait = 30 * time.Second

// Reconnection backoff of a consumer whose stream broke.
const (
	consumeRetryMin = 100 * time.Millisecond
	consumeRetryMax = 5 * time.Second
)

// ConsumeOptions are the settings of one Consume.
type ConsumeOptions struct {
	// Group shares the topic with the group's other consumers: each event
	// goes to one of them, every group gets every event, and a named
	// group's position is kept by the server (it survives restarts and
	// wins over the start options below once the group exists). Without
	// a group the consumer gets every event on its own.
	Group string
	// Where a consumer starts, at most one of: Offset (the first event
	// published at or after it), Sequence (that event number) or NewOnly
	// (only events published from now on). None: the oldest event the
	// topic retains.
	Offset   time.Time
	Sequence uint64
	NewOnly  bool
	// AutoAck (the default) counts an event as acknowledged when it is
	// sent. Without it, call Event.Ack or Event.Nack: an event not acked
	// within AckWait (default DefaultAckWait) is delivered again, up to
	// RetryLimit times (-1, the default: no limit), then goes to the
	// dead-letter topic <topic>.dead.
	AutoAck    bool
	AckWait    time.Duration
	RetryLimit int
	// Context ends the consumer, and closes its channel, when done.
	Context context.Context
}

// ConsumeOption sets a ConsumeOptions field.
type ConsumeOption func(*ConsumeOptions)

// Group makes the consumer a member of the named consumer group.
func Group(name string) ConsumeOption { return func(o *ConsumeOptions) { o.Group = name } }

// Offset starts at the first event published at or after t.
func Offset(t time.Time) ConsumeOption { return func(o *ConsumeOptions) { o.Offset = t } }

// Sequence starts at event number seq.
func Sequence(seq uint64) ConsumeOption { return func(o *ConsumeOptions) { o.Sequence = seq } }

// NewOnly starts with the next event published (Micro's start).
func NewOnly() ConsumeOption { return func(o *ConsumeOptions) { o.NewOnly = true } }

// AutoAck sets whether events count as acknowledged when sent (default
// true); false means Event.Ack and Event.Nack.
func AutoAck(b bool) ConsumeOption { return func(o *ConsumeOptions) { o.AutoAck = b } }

// AckWait is how long the server waits for an ack before it delivers the
// event again.
func AckWait(d time.Duration) ConsumeOption { return func(o *ConsumeOptions) { o.AckWait = d } }

// RetryLimit is how often an unacknowledged event is delivered again
// before it goes to <topic>.dead; -1 means without limit.
func RetryLimit(n int) ConsumeOption { return func(o *ConsumeOptions) { o.RetryLimit = n } }

// Context ends the consumer when ctx is done.
func Context(ctx context.Context) ConsumeOption {
	return func(o *ConsumeOptions) { o.Context = ctx }
}

// WithGroup is Micro's spelling of Group.
func WithGroup(name string) ConsumeOption { return Group(name) }

// WithOffset is Micro's spelling of Offset.
func WithOffset(t time.Time) ConsumeOption { return Offset(t) }

// WithAutoAck is Micro's spelling of AutoAck and AckWait together.
func WithAutoAck(ack bool, ackWait time.Duration) ConsumeOption {
	return func(o *ConsumeOptions) { o.AutoAck, o.AckWait = ack, ackWait }
}

// WithRetryLimit is Micro's spelling of RetryLimit.
func WithRetryLimit(n int) ConsumeOption { return RetryLimit(n) }

// consumer is one Consume: its current stream and what it has seen, so a
// new stream can take over when one breaks.
type consumer struct {
	e      *rpcEvents
	topic  string
	o      ConsumeOptions
	ctx    context.Context
	cancel context.CancelFunc
	out    chan Event

	mu      sync.Mutex
	st      client.Stream
	gen     uint64            // which stream st is; acks name the stream their event came on
	lastSeq uint64            // the highest sequence received
	unacked map[string]uint64 // manual acks: delivered, not yet acked
}

// Consume subscribes to topic and delivers its events on the returned
// channel, in order. The subscription is in place when Consume returns; a
// refused one (no access, bad options) is Consume's error.
//
// When the stream breaks (the server restarts, the network drops) the
// consumer subscribes again with backoff and carries on: a group from its
// saved position (events it had not acked come again), a consumer without
// a group from its oldest unacked event, else the event after the last it
// received. The channel closes when Context is done or when subscribing
// again is refused (the error is logged).
func (e *rpcEvents) Consume(topic string, opts ...ConsumeOption) (<-chan Event, error) {
	o := ConsumeOptions{AutoAck: true, RetryLimit: -1, Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	if topic == "" {
		return nil, errors.BadRequest(errID, "a topic is required")
	}
	if !o.AutoAck && o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	ctx, cancel := context.WithCancel(o.Context)
	c := &consumer{e: e, topic: topic, o: o, ctx: ctx, cancel: cancel, out: make(chan Event), unacked: map[string]uint64{}}
	st, err := c.subscribe(false)
	if err != nil {
		cancel()
		return nil, err
	}
	go c.run(st)
	return c.out, nil
}

// request is the subscription; on a resumed one a consumer without a group
// starts where it left off (a group's saved position wins anyway).
func (c *consumer) request(resume bool) *pb.ConsumeRequest {
	o := c.o
	req := &pb.ConsumeRequest{Topic: c.topic, Group: o.Group, AutoAck: o.AutoAck, AckWait: int64(o.AckWait),
		RetryLimit: int64(o.RetryLimit), Sequence: o.Sequence, NewOnly: o.NewOnly}
	if !o.Offset.IsZero() {
		req.Offset = o.Offset.Unix()
	}
	if !resume || o.Group != "" {
		return req
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	start := uint64(0)
	if c.lastSeq > 0 {
		start = c.lastSeq + 1
	}
	for _, seq := range c.unacked {
		if start == 0 || seq < start {
			start = seq
		}
	}
	if start > 0 {
		req.Offset, req.Sequence, req.NewOnly = 0, start, false
	}
	return req
}

// subscribe opens a stream and waits until the server accepted it.
func (c *consumer) subscribe(resume bool) (client.Stream, error) {
	req := c.request(resume)
	cl := c.e.c
	st, err := cl.Stream(c.ctx, cl.NewRequest("events", "Stream.Consume", req))
	if err != nil {
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		st.Close()
		return nil, err
	}
	// The server sends headers once it accepted the subscription (before
	// any event), so a refusal is reported here, not later.
	if h, ok := st.(interface{ Header() (grpcmd.MD, error) }); ok {
		if _, err := h.Header(); err != nil {
			st.Close()
			return nil, err
		}
	}
	c.mu.Lock()
	c.st = st
	c.gen++
	if resume {
		// The server delivers those events again; acks on the old
		// stream could not reach it anyway.
		clear(c.unacked)
	}
	c.mu.Unlock()
	return st, nil
}

// run hands events to the channel, and subscribes again when the stream
// breaks, until the context ends or subscribing is refused.
func (c *consumer) run(st client.Stream) {
	defer close(c.out)
	defer c.cancel()
	log := c.e.log.With("topic", c.topic, "group", c.o.Group)
	for {
		err := c.read(st)
		st.Close()
		if c.ctx.Err() != nil {
			return
		}
		if errors.Code(err) == 499 { // the client was closed
			log.Info("events consumer ended: the client was closed")
			return
		}
		log.Warn("events consumer interrupted; subscribing again", "err", err)
		for wait := consumeRetryMin; ; wait = min(wait*2, consumeRetryMax) {
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(wait):
			}
			st, err = c.subscribe(true)
			if err == nil {
				log.Info("events consumer resumed")
				break
			}
			if c.ctx.Err() != nil {
				return
			}
			switch errors.Code(err) {
			case 400, 401, 403, 499:
				log.Error("events consumer ended: subscribing again was refused", "err", err)
				return
			}
		}
	}
}

// read hands the stream's events to the channel until the stream ends.
func (c *consumer) read(st client.Stream) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	for {
		m := new(pb.Event)
		if err := st.Recv(m); err != nil {
			if err == io.EOF {
				return errors.ServiceUnavailable(errID, "the server ended the consume stream")
			}
			return err
		}
		ev := fromProto(m)
		c.mu.Lock()
		c.lastSeq = max(c.lastSeq, ev.Sequence)
		if !c.o.AutoAck {
			c.unacked[ev.ID] = ev.Sequence
			id := ev.ID
			ev.ackFunc = func(success bool) error { return c.ack(gen, id, success) }
		}
		c.mu.Unlock()
		select {
		case c.out <- ev:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// ack sends an ack (or nack) for event id on the stream it came on.
func (c *consumer) ack(gen uint64, id string, success bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.ctx.Err() != nil {
		return errors.Conflict(errID, "event %s came on a consume stream that has ended; it will be delivered again", id)
	}
	err := c.st.Send(&pb.ConsumeRequest{Ack: &pb.AckRequest{Id: id, Success: success}})
	if err != nil {
		return errors.ServiceUnavailable(errID, "acking event %s: the consume stream broke (%v); it will be delivered again", id, err)
	}
	if success {
		delete(c.unacked, id)
	}
	return nil
}
