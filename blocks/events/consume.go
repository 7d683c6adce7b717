package events

import (
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protowire"

	merrors "micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/events"
)

const (
	// MaxGroupSize is the longest group name, in bytes.
	MaxGroupSize = 255
	// MaxAckWait is the longest ack_wait accepted.
	MaxAckWait = 7 * 24 * time.Hour
	// memberBuffer is how many events wait for one consumer's stream.
	memberBuffer = 256
)

// subscription is a validated first Consume message.
type subscription struct {
	topic, group string
	autoAck      bool
	ackWait      time.Duration
	retryLimit   int64
	// start is the first sequence number to deliver, for a group that
	// does not exist yet.
	start uint64
}

// Consume streams a topic's events to one member of a consumer group. The
// first message subscribes; later ones ack (or nack) events when auto_ack
// is false. The stream ends when the client goes away, on a bad message
// (400) or at shutdown (503).
func (s streamServer) Consume(stream serverStream) error {
	e := s.e
	ctx := stream.Context()
	ns, err := e.scope(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return merrors.BadRequest(errID, "a Consume stream starts with a subscription: send a ConsumeRequest with a topic")
	}
	if err != nil {
		return err
	}
	sub, err := e.subscription(stream, ns, first)
	if err != nil {
		return err
	}
	m := &member{autoAck: sub.autoAck, ackWait: sub.ackWait, retryLimit: sub.retryLimit,
		out: make(chan *Event, memberBuffer), failed: make(chan struct{})}
	g, err := e.hub.join(topicKey{ns, sub.topic}, sub, m)
	if err != nil {
		return err
	}
	defer g.leave(m)
	defer m.fail(nil) // unblocks the ack reader below
	// Headers now tell the client the subscription was accepted, before
	// any event: the gateway answers 200 (or the error) on it.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}

	// Acks arrive on the same stream, read here while events are sent below.
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				return // EOF: the client sends no more; it may still receive
			}
			id, success, isAck := ackOf(req)
			switch {
			case isAck && id == "":
				m.fail(merrors.BadRequest(errID, "an ack needs the event id"))
				return
			case isAck:
				if !g.ack(m, id, success) {
					return
				}
			case !isEmpty(req):
				m.fail(merrors.BadRequest(errID, "after the subscription a Consume stream takes only acks (ack.id, ack.success)"))
				return
			}
		}
	}()

	for {
		select {
		case ev := <-m.out:
			if err := stream.Send(toProto(ev)); err != nil {
				m.unsent = append(m.unsent, ev)
				return err
			}
			if len(m.out) <= memberBuffer/2 {
				g.poke()
			}
		case <-m.failed:
			return m.err
		case <-ctx.Done():
			return nil
		case <-e.ctx.Done():
			return errShuttingDown
		}
	}
}

// subscription validates the first message of a Consume stream and works
// out where it starts.
func (e *Events) subscription(stream serverStream, ns string, req *pb.ConsumeRequest) (subscription, error) {
	ctx := stream.Context()
	sub := subscription{topic: req.GetTopic(), group: req.GetGroup(), autoAck: req.GetAutoAck(),
		ackWait: time.Duration(req.GetAckWait()), retryLimit: req.GetRetryLimit()}
	if err := checkTopic(sub.topic); err != nil {
		return sub, err
	}
	if len(sub.group) > MaxGroupSize {
		return sub, merrors.BadRequest(errID, "group is %d bytes; the limit is %d", len(sub.group), MaxGroupSize)
	}
	if i := strings.IndexFunc(sub.group, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return sub, merrors.BadRequest(errID, "group %q has a control character at byte %d", sub.group, i)
	}
	if req.GetAck() != nil {
		return sub, merrors.BadRequest(errID, "the first message of a Consume stream subscribes; it cannot carry an ack")
	}
	if !sub.autoAck {
		if sub.ackWait <= 0 {
			return sub, merrors.BadRequest(errID, "auto_ack is false, so ack_wait is required: the nanoseconds to wait for an ack before sending an event again")
		}
		if sub.ackWait > MaxAckWait {
			return sub, merrors.BadRequest(errID, "ack_wait is %s; the limit is %s", sub.ackWait, MaxAckWait)
		}
	}
	if sub.retryLimit < -1 {
		return sub, merrors.BadRequest(errID, "retry_limit is %d; give -1 (unlimited) or a number of redeliveries", sub.retryLimit)
	}
	starts := 0
	for _, set := range []bool{req.GetOffset() != 0, req.GetSequence() != 0, req.GetNewOnly()} {
		if set {
			starts++
		}
	}
	var err error
	switch {
	case starts > 1:
		return sub, merrors.BadRequest(errID, "give at most one of offset, sequence and new_only")
	case req.GetOffset() < 0 || req.GetOffset() > math.MaxInt64/int64(time.Second):
		return sub, merrors.BadRequest(errID, "offset is %d; give unix seconds", req.GetOffset())
	case req.GetSequence() > math.MaxInt64:
		// Events are numbered as SQLite integers; a larger start would
		// wrap negative in the query and replay the whole topic.
		return sub, merrors.BadRequest(errID, "sequence is %d; give 1 to %d", req.GetSequence(), uint64(math.MaxInt64))
	case req.GetOffset() > 0:
		sub.start, err = e.backend.SeqSince(ctx, ns, sub.topic, time.Unix(req.GetOffset(), 0))
	case req.GetSequence() > 0:
		sub.start = req.GetSequence()
	case req.GetNewOnly():
		var last uint64
		last, err = e.backend.LastSeq(ctx, ns, sub.topic)
		sub.start = last + 1
	default:
		sub.start = 1 // the oldest retained: reads skip the expired
	}
	if err != nil {
		return sub, e.failed(ctx, "consume", err)
	}
	return sub, nil
}

// ackOf reads an ack from a later Consume message: the ack field, or a bare
// Micro AckRequest{id = 1, success = 2}, which decodes as a ConsumeRequest
// whose group is the id and whose success is an unknown varint field 2
// (the topic's number, with the wrong wire type).
func ackOf(req *pb.ConsumeRequest) (id string, success, ok bool) {
	if a := req.GetAck(); a != nil {
		return a.GetId(), a.GetSuccess(), true
	}
	if req.GetGroup() == "" || req.GetTopic() != "" {
		return "", false, false
	}
	unknown := req.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			break
		}
		unknown = unknown[n:]
		if num == 2 && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(unknown)
			if m < 0 {
				break
			}
			success = v != 0
			unknown = unknown[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, unknown)
		if m < 0 {
			break
		}
		unknown = unknown[m:]
	}
	return req.GetGroup(), success, true
}

func isEmpty(req *pb.ConsumeRequest) bool {
	return req.GetTopic() == "" && req.GetGroup() == "" && req.GetOffset() == 0 && !req.GetAutoAck() &&
		req.GetAckWait() == 0 && req.GetRetryLimit() == 0 && req.GetSequence() == 0 && !req.GetNewOnly()
}

// member is one Consume stream in a group.
type member struct {
	autoAck    bool
	ackWait    time.Duration
	retryLimit int64
	// out holds events for the stream; only the group's loop sends on it,
	// and only into free room, so it never blocks.
	out chan *Event
	// unsent is what the stream failed to send; owned by the handler.
	unsent []*Event

	// inflight counts events sent and not acked; owned by the group's loop.
	inflight int

	failOnce sync.Once
	failed   chan struct{}
	err      error
}

// fail ends the member's stream with err.
func (m *member) fail(err error) {
	m.failOnce.Do(func() {
		m.err = err
		close(m.failed)
	})
}
