package events

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/framework/errors"
)

// Stream is the JetStream stream a cluster's events live in.
const Stream = "micro_events"

// StreamMaxBytes bounds the stream (per replica): publishes past it are
// refused (507) until the sweep frees room, rather than retention being
// cut short or a caller's mistake filling the disk.
const StreamMaxBytes = 8 << 30

// Subjects of the stream. Each topic's events are one subject per event,
// so an event is found by its topic sequence in one direct get, and the
// stream keeps one message per subject, so the group and topic subjects
// hold their latest state like a key-value bucket, in the same stream as
// the events: a group's state and its dead letters are one atomic batch.
//
//	micro.ev.<ns>.<topic>.<seq>   an event (payload; id, times, metadata in headers)
//	micro.evgrp.<ns>.<topic>.<group> a durable group's position and pending events
//	micro.evtopic.<ns>.<topic>    a topic: its own retention
//
// Names are jsstorage.Tokens ('_' and lowercase hex): subjects allow only
// some bytes and '.' separates tokens, and a namespace, topic or group is
// any string.
const (
	subjEvent = "micro.ev."
	subjGroup = "micro.evgrp."
	subjTopic = "micro.evtopic."
	// subjWake carries no data and is not stored: a node tells the others
	// a topic has new events, to wake their consumers.
	subjWake = "micro.evwake."
)

// Headers of an event message.
const (
	hdrID        = "Micro-Id"
	hdrPublished = "Micro-Published"
	hdrTimestamp = "Micro-Timestamp"
	hdrMetadata  = "Micro-Metadata"
)

// appendAttempts bounds the retries of an append racing appends to the
// same topic on other nodes.
const appendAttempts = 100

// WithJetStream keeps events, topics and durable groups in the JetStream
// stream micro_events, replicated on replicas servers, instead of the
// SQLite file: the events of every node of a cluster. Consumers on every
// node are woken by events published through any node.
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(e *Events) { e.js, e.replicas = js, max(replicas, 1) }
}

func eventSubject(ns, topic string, seq uint64) string {
	return subjEvent + jsstorage.Token(ns) + "." + jsstorage.Token(topic) + "." + strconv.FormatUint(seq, 10)
}
func eventsOf(ns, topic string) string {
	return subjEvent + jsstorage.Token(ns) + "." + jsstorage.Token(topic) + ".*"
}
func groupSubject(ns, topic, group string) string {
	return subjGroup + jsstorage.Token(ns) + "." + jsstorage.Token(topic) + "." + jsstorage.Token(group)
}
func topicSubject(ns, topic string) string {
	return subjTopic + jsstorage.Token(ns) + "." + jsstorage.Token(topic)
}

// jsBackend is the Backend on a JetStream stream. Per-topic sequence
// numbers are the last token of each event's subject; an append reads the
// topic's last event and publishes the next numbers with
// Nats-Expected-Last-Subject-Sequence over the topic's wildcard subject,
// so of two nodes appending at once one wins and the other reads again:
// numbers stay contiguous with no gaps and no duplicates. Several
// messages (a batch of events, a topic's first marker, a group's state
// with its dead letters) go as one atomic batch (the stream allows atomic
// publish), all stored or none.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	now      func() time.Time
	log      *slog.Logger
	// wake is told of topics with new events, appended through any node.
	wake func(topicKey)

	mu     sync.Mutex
	stream jetstream.Stream
	sub    *nats.Subscription

	// topics serialises this node's appends per topic and remembers its
	// last event, so appends from one node do not race each other and
	// usually need no read first.
	topicsMu sync.Mutex
	topics   map[topicKey]*topicTail
}

// topicTail is the last event of a topic as this node last wrote or read it.
type topicTail struct {
	mu        sync.Mutex
	known     bool
	seq       uint64 // topic sequence; 0: no events
	streamSeq uint64 // its stream sequence
	published int64  // unix ns
}

func newJetStream(js jetstream.JetStream, replicas int, now func() time.Time, log *slog.Logger) *jsBackend {
	return &jsBackend{js: js, replicas: replicas, now: now, log: log, topics: map[topicKey]*topicTail{}}
}

// bind creates or updates the stream and subscribes to wake-ups on first
// use; a failure is returned and tried again on the next call.
func (b *jsBackend) bind(ctx context.Context) (jetstream.Stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stream != nil {
		return b.stream, nil
	}
	s, err := jsstorage.Stream(ctx, b.js, jetstream.StreamConfig{
		Name:               Stream,
		Description:        "micro events: events, topics and durable consumer groups",
		Subjects:           []string{subjEvent + ">", subjGroup + ">", subjTopic + ">"},
		Storage:            jetstream.FileStorage,
		Replicas:           b.replicas,
		MaxMsgsPerSubject:  1,
		MaxBytes:           StreamMaxBytes,
		Discard:            jetstream.DiscardNew,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		MaxMsgSize:         -1,
	})
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	sub, err := b.js.Conn().Subscribe(subjWake+">", func(m *nats.Msg) {
		parts := strings.Split(strings.TrimPrefix(m.Subject, subjWake), ".")
		if len(parts) != 2 || b.wake == nil {
			return
		}
		ns, err1 := jsstorage.Name(parts[0])
		topic, err2 := jsstorage.Name(parts[1])
		if err1 == nil && err2 == nil {
			b.wake(topicKey{ns, topic})
		}
	})
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	b.stream, b.sub = s, sub
	return s, nil
}

// Close stops the wake-ups; publishes and reads go on working.
func (b *jsBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sub != nil {
		return b.sub.Unsubscribe()
	}
	return nil
}

// stored is a message as a direct get returns it.
type stored struct {
	subject   string
	streamSeq uint64
	header    nats.Header
	data      []byte
}

// get is a direct get: the message at or after seq on subject (a
// wildcard too) when next, else the last message on subject; nil when
// there is none.
func (b *jsBackend) get(ctx context.Context, subject string, seq uint64, next bool) (*stored, error) {
	var out *stored
	err := b.directGet(ctx, subject, seq, next, 1, func(m *stored) bool {
		out = m
		return false
	})
	return out, err
}

// directGet is jsstorage.DirectGet on the events stream.
func (b *jsBackend) directGet(ctx context.Context, subject string, seq uint64, next bool, batch int, fn func(*stored) bool) error {
	if _, err := b.bind(ctx); err != nil {
		return err
	}
	req := jsstorage.GetRequest{LastBySubject: subject}
	if next {
		req = jsstorage.GetRequest{Seq: max(seq, 1), NextBySubject: subject}
	}
	if batch > 1 {
		req.Batch = batch
	}
	err := jsstorage.DirectGet(ctx, b.js.Conn(), Stream, req, func(m *jsstorage.Msg) bool {
		return fn(&stored{subject: m.Subject, streamSeq: m.Seq, header: m.Header, data: m.Data})
	})
	if err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	return nil
}

// eventOf decodes a stored event.
func eventOf(topic string, s *stored) (Event, error) {
	i := strings.LastIndexByte(s.subject, '.')
	seq, err := strconv.ParseUint(s.subject[i+1:], 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("event subject %q", s.subject)
	}
	published, _ := strconv.ParseInt(s.header.Get(hdrPublished), 10, 64)
	ts, _ := strconv.ParseInt(s.header.Get(hdrTimestamp), 10, 64)
	ev := Event{ID: s.header.Get(hdrID), Topic: topic, Seq: seq, Payload: s.data, Timestamp: ts, Published: time.Unix(0, published)}
	if ev.Payload == nil {
		ev.Payload = []byte{}
	}
	if md := s.header.Get(hdrMetadata); md != "" {
		if err := json.Unmarshal([]byte(md), &ev.Metadata); err != nil {
			return Event{}, fmt.Errorf("event %s/%d: metadata: %w", topic, seq, err)
		}
	}
	return ev, nil
}

// tail returns the node's record of a topic, locked; the caller unlocks.
func (b *jsBackend) tail(k topicKey) *topicTail {
	b.topicsMu.Lock()
	t := b.topics[k]
	if t == nil {
		if len(b.topics) >= maxTails {
			clear(b.topics) // bounded: forgetting only costs a read
		}
		t = &topicTail{}
		b.topics[k] = t
	}
	b.topicsMu.Unlock()
	t.mu.Lock()
	return t
}

// maxTails bounds the topics a node remembers the last event of.
const maxTails = 10_000

// refresh reads a topic's last event into t.
func (b *jsBackend) refresh(ctx context.Context, ns, topic string, t *topicTail) error {
	last, err := b.get(ctx, eventsOf(ns, topic), 0, false)
	if err != nil {
		return err
	}
	t.known, t.seq, t.streamSeq, t.published = true, 0, 0, 0
	if last != nil {
		ev, err := eventOf(topic, last)
		if err != nil {
			return err
		}
		t.seq, t.streamSeq, t.published = ev.Seq, last.streamSeq, ev.Published.UnixNano()
		return nil
	}
	// No event retained: the topic's marker remembers where numbering
	// and publish times stood when the sweep took the last.
	v, _, err := b.marker(ctx, ns, topic)
	t.seq, t.published = v.Last, v.Published
	return err
}

// marker reads a topic's marker and its stream sequence (0: none).
func (b *jsBackend) marker(ctx context.Context, ns, topic string) (topicValue, uint64, error) {
	var v topicValue
	s, err := b.get(ctx, topicSubject(ns, topic), 0, false)
	if err != nil || s == nil {
		return v, 0, err
	}
	if err := json.Unmarshal(s.data, &v); err != nil {
		return v, 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	return v, s.streamSeq, nil
}

// setMarker changes a topic's marker with compare-and-set, so a retention
// set and a sweep's record of the last number do not undo each other.
func (b *jsBackend) setMarker(ctx context.Context, ns, topic string, fn func(*topicValue)) error {
	for attempt := 0; attempt < appendAttempts; attempt++ {
		v, ver, err := b.marker(ctx, ns, topic)
		if err != nil {
			return err
		}
		fn(&v)
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m := nats.NewMsg(topicSubject(ns, topic))
		m.Data = data
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(ver, 10))
		if _, err = b.publish(ctx, []*nats.Msg{m}); !stderrors.Is(err, errWrongLast) {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
	return errors.Conflict(errID, "topic %s is being changed by too many writers at once; try again", topic)
}

func (b *jsBackend) Append(ctx context.Context, ns, topic string, evs []Event) ([]Event, error) {
	out, err := b.appendWith(ctx, ns, topic, evs, nil)
	if err == nil {
		b.js.Conn().Publish(subjWake+jsstorage.Token(ns)+"."+jsstorage.Token(topic), nil)
	}
	return out, err
}

// appendWith appends evs to topic, preceded in the same atomic batch by
// first (a group's state) when given. It retries while appends through
// other nodes get in first; first's own check failing is errGroupChanged.
func (b *jsBackend) appendWith(ctx context.Context, ns, topic string, evs []Event, first *nats.Msg) ([]Event, error) {
	k := topicKey{ns, topic}
	t := b.tail(k)
	defer t.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if !t.known {
			if err := b.refresh(ctx, ns, topic, t); err != nil {
				return nil, err
			}
		}
		var msgs []*nats.Msg
		if first != nil {
			msgs = append(msgs, first)
		}
		if t.seq == 0 {
			// The topic's first event: make sure it is listed, without
			// overwriting a retention set meanwhile. (A topic whose
			// events were all swept has a marker: t.seq is its Last.)
			marker, err := b.get(ctx, topicSubject(ns, topic), 0, false)
			if err != nil {
				return nil, err
			}
			if marker == nil {
				m := nats.NewMsg(topicSubject(ns, topic))
				m.Data = []byte(`{}`)
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
				msgs = append(msgs, m)
			}
		}
		published := max(b.now().UnixNano(), t.published)
		out := make([]Event, len(evs))
		for i, ev := range evs {
			ev.Topic, ev.Seq, ev.Published = topic, t.seq+1+uint64(i), time.Unix(0, published)
			m := nats.NewMsg(eventSubject(ns, topic, ev.Seq))
			m.Data = ev.Payload
			m.Header.Set(hdrID, ev.ID)
			m.Header.Set(hdrPublished, strconv.FormatInt(published, 10))
			m.Header.Set(hdrTimestamp, strconv.FormatInt(ev.Timestamp, 10))
			if len(ev.Metadata) > 0 {
				md, err := json.Marshal(ev.Metadata)
				if err != nil {
					return nil, err
				}
				m.Header.Set(hdrMetadata, string(md))
			}
			if i == 0 {
				// The whole topic must still end where this node
				// thinks it does.
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(t.streamSeq, 10))
				m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, eventsOf(ns, topic))
			}
			msgs = append(msgs, m)
			out[i] = ev
		}
		last, err := b.publish(ctx, msgs)
		switch {
		case err == nil:
			t.seq, t.streamSeq, t.published = out[len(out)-1].Seq, last, published
			return out, nil
		case stderrors.Is(err, errWrongLast):
			t.known = false
			if first != nil && attempt > 0 {
				// Either the group's state or the topic moved; the
				// caller re-reads the group to tell.
				return nil, errGroupChanged
			}
			if attempt >= appendAttempts {
				return nil, errors.Conflict(errID, "topic %s is being appended to by too many writers at once; try again", topic)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Millisecond):
			}
		default:
			t.known = false
			return nil, err
		}
	}
}

// errWrongLast is a publish whose expected last sequence did not hold.
var errWrongLast = stderrors.New("wrong last sequence")

// errGroupChanged is a SaveGroup whose group another node saved first.
var errGroupChanged = stderrors.New("consumer group changed meanwhile")

// publish stores msgs, all or none: one message alone, several as an
// atomic batch. It returns the stream sequence of the last.
func (b *jsBackend) publish(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	if _, err := b.bind(ctx); err != nil {
		return 0, err
	}
	maxPayload := int(b.js.Conn().MaxPayload())
	for _, m := range msgs {
		if n := len(m.Data) + headerSize(m.Header); n > maxPayload {
			return 0, errors.TooLarge(errID, "an event of %d bytes (payload and metadata) is more than the cluster's limit of %d", n, maxPayload)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	nc := b.js.Conn()
	if len(msgs) > 1 {
		id := uuid.NewString()
		for i, m := range msgs {
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
			if i == len(msgs)-1 {
				m.Header.Set("Nats-Batch-Commit", "1")
				break
			}
			if err := nc.PublishMsg(m); err != nil {
				return 0, jsstorage.Unavailable(errID, err)
			}
		}
	}
	reply, err := nc.RequestMsgWithContext(ctx, msgs[len(msgs)-1])
	if err != nil {
		return 0, jsstorage.Unavailable(errID, err)
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Error *struct {
			Code        int    `json:"code"`
			ErrorCode   int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return 0, fmt.Errorf("publish: unreadable answer %q", reply.Data)
	}
	if e := ack.Error; e != nil {
		switch jetstream.ErrorCode(e.ErrorCode) {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return 0, errWrongLast
		}
		if strings.Contains(e.Description, "maximum bytes") || strings.Contains(e.Description, "resources exceeded") {
			return 0, errors.InsufficientStorage(errID, "the cluster's event stream is full (%d bytes); events are refused until older ones expire", StreamMaxBytes)
		}
		return 0, fmt.Errorf("publish: %s (%d)", e.Description, e.ErrorCode)
	}
	return ack.Seq, nil
}

func headerSize(h nats.Header) int {
	n := 12
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
