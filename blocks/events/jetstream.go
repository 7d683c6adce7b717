package events

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"log/slog"
	"slices"
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

func (b *jsBackend) Read(ctx context.Context, ns, topic string, q Query) ([]Event, error) {
	var out []Event
	if q.Seqs != nil {
		for _, seq := range q.Seqs {
			s, err := b.get(ctx, eventSubject(ns, topic, seq), 0, false)
			if err != nil {
				return nil, err
			}
			if s == nil {
				continue
			}
			ev, err := eventOf(topic, s)
			if err != nil {
				return nil, err
			}
			if !ev.Published.Before(q.NotBefore) {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	// Where to start: the event From, else the topic's first retained
	// one; then, if that is older than NotBefore, the first not older
	// (publish times never decrease along a topic); then skip Offset, the
	// numbers being contiguous.
	start, err := b.firstFrom(ctx, ns, topic, max(q.From, 1))
	if err != nil || start == nil {
		return nil, err
	}
	ev, err := eventOf(topic, start)
	if err != nil {
		return nil, err
	}
	seq := ev.Seq
	if ev.Published.Before(q.NotBefore) {
		if seq, err = b.SeqSince(ctx, ns, topic, q.NotBefore); err != nil {
			return nil, err
		}
	}
	seq += uint64(q.Offset)
	if seq != ev.Seq {
		if start, err = b.get(ctx, eventSubject(ns, topic, seq), 0, false); err != nil || start == nil {
			return nil, err
		}
	}
	want := q.Limit
	if want <= 0 {
		want = int(^uint(0) >> 1)
	}
	from := start.streamSeq
	for len(out) < want {
		n, got := min(want-len(out), readBatch*4), 0
		var last uint64
		err := b.directGet(ctx, eventsOf(ns, topic), from, true, n, func(s *stored) bool {
			ev, err := eventOf(topic, s)
			if err == nil {
				out = append(out, ev)
			}
			got, last = got+1, s.streamSeq
			return got < n
		})
		if err != nil {
			return nil, err
		}
		if got < n {
			break
		}
		from = last + 1
	}
	return out, nil
}

// firstFrom is the event seq of topic, or when it is gone or not yet
// there the first retained event if that is after seq; nil when none is.
func (b *jsBackend) firstFrom(ctx context.Context, ns, topic string, seq uint64) (*stored, error) {
	s, err := b.get(ctx, eventSubject(ns, topic, seq), 0, false)
	if err != nil || s != nil {
		return s, err
	}
	first, err := b.get(ctx, eventsOf(ns, topic), 1, true)
	if err != nil || first == nil {
		return nil, err
	}
	ev, err := eventOf(topic, first)
	if err != nil {
		return nil, err
	}
	if ev.Seq < seq {
		return nil, nil // seq is past the last event
	}
	return first, nil
}

func (b *jsBackend) LastSeq(ctx context.Context, ns, topic string) (uint64, error) {
	last, err := b.get(ctx, eventsOf(ns, topic), 0, false)
	if err != nil {
		return 0, err
	}
	if last == nil {
		v, _, err := b.marker(ctx, ns, topic)
		return v.Last, err
	}
	ev, err := eventOf(topic, last)
	return ev.Seq, err
}

// SeqSince binary-searches the topic's retained events, whose publish
// times never decrease with their numbers, one direct get per step.
func (b *jsBackend) SeqSince(ctx context.Context, ns, topic string, t time.Time) (uint64, error) {
	last, err := b.LastSeq(ctx, ns, topic)
	if err != nil {
		return 0, err
	}
	first, err := b.get(ctx, eventsOf(ns, topic), 1, true)
	if err != nil {
		return 0, err
	}
	if first == nil {
		return last + 1, nil
	}
	fev, err := eventOf(topic, first)
	if err != nil {
		return 0, err
	}
	lo, hi := fev.Seq, last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, err := b.get(ctx, eventSubject(ns, topic, mid), 0, false)
		if err != nil {
			return 0, err
		}
		if s == nil { // swept meanwhile
			lo = mid + 1
			continue
		}
		ev, err := eventOf(topic, s)
		if err != nil {
			return 0, err
		}
		if !ev.Published.Before(t) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// groupValue is a durable group as stored.
type groupValue struct {
	Next    uint64         `json:"next"`
	Pending []pendingValue `json:"pending,omitempty"`
}

type pendingValue struct {
	Seq        uint64 `json:"s"`
	ID         string `json:"id"`
	Deliveries int64  `json:"d"`
	Due        int64  `json:"due"`
	Node       string `json:"n,omitempty"`
}

func (b *jsBackend) loadGroup(ctx context.Context, ns, topic, group string) (groupValue, uint64, error) {
	var v groupValue
	s, err := b.get(ctx, groupSubject(ns, topic, group), 0, false)
	if err != nil || s == nil {
		return v, 0, err
	}
	if err := json.Unmarshal(s.data, &v); err != nil {
		return v, 0, fmt.Errorf("group %s of %s: %w", group, topic, err)
	}
	return v, s.streamSeq, nil
}

func (b *jsBackend) LoadGroup(ctx context.Context, ns, topic, group string) (GroupState, bool, error) {
	v, ver, err := b.loadGroup(ctx, ns, topic, group)
	if err != nil || ver == 0 {
		return GroupState{}, false, err
	}
	g := GroupState{Next: v.Next, Version: ver}
	for _, p := range v.Pending {
		g.Pending = append(g.Pending, Pending{Seq: p.Seq, ID: p.ID, Deliveries: p.Deliveries, Due: time.Unix(0, p.Due), Node: p.Node})
	}
	return g, true, nil
}

// SaveGroup applies c to the group as it is at c.Version (the stream
// sequence LoadGroup or the last SaveGroup gave), and stores it with its
// dead letters in one atomic batch; a group another node saved since is
// errGroupChanged, and the group's loop loads it again.
func (b *jsBackend) SaveGroup(ctx context.Context, ns, topic, group string, c GroupChange) ([]Event, uint64, error) {
	v, ver, err := b.loadGroup(ctx, ns, topic, group)
	if err != nil {
		return nil, 0, err
	}
	if ver != c.Version {
		return nil, 0, errGroupChanged
	}
	pending := map[uint64]pendingValue{}
	for _, p := range v.Pending {
		pending[p.Seq] = p
	}
	for _, seq := range c.Remove {
		delete(pending, seq)
	}
	for _, p := range c.Put {
		pending[p.Seq] = pendingValue{Seq: p.Seq, ID: p.ID, Deliveries: p.Deliveries, Due: p.Due.UnixNano(), Node: p.Node}
	}
	next := groupValue{Next: c.Next, Pending: make([]pendingValue, 0, len(pending))}
	for _, p := range pending {
		next.Pending = append(next.Pending, p)
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, 0, err
	}
	m := nats.NewMsg(groupSubject(ns, topic, group))
	m.Data = data
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(ver, 10))
	if len(c.Dead) == 0 {
		if ver == 0 {
			if err := b.ensureTopic(ctx, ns, topic); err != nil {
				return nil, 0, err
			}
		}
		seq, err := b.publish(ctx, []*nats.Msg{m})
		if stderrors.Is(err, errWrongLast) {
			return nil, 0, errGroupChanged
		}
		return nil, seq, err
	}
	dead, err := b.appendWith(ctx, ns, c.DeadTopic, c.Dead, m)
	if err != nil {
		return nil, 0, err
	}
	b.js.Conn().Publish(subjWake+jsstorage.Token(ns)+"."+jsstorage.Token(c.DeadTopic), nil)
	// The group's own message is the batch's first; its sequence is not
	// reported, so read it back.
	_, ver, err = b.loadGroup(ctx, ns, topic, group)
	return dead, ver, err
}

// ensureTopic lists a topic that has no events yet (a group made first).
func (b *jsBackend) ensureTopic(ctx context.Context, ns, topic string) error {
	m := nats.NewMsg(topicSubject(ns, topic))
	m.Data = []byte(`{}`)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	_, err := b.publish(ctx, []*nats.Msg{m})
	if stderrors.Is(err, errWrongLast) {
		return nil // listed already
	}
	return err
}

// topicValue is a topic's marker: its own retention, and once the sweep
// took every event, the last number and publish time (unix ns) there were.
type topicValue struct {
	Retention time.Duration `json:"retention,omitempty"`
	Last      uint64        `json:"last,omitempty"`
	Published int64         `json:"published,omitempty"`
}

func (b *jsBackend) Retention(ctx context.Context, ns, topic string) (time.Duration, error) {
	v, _, err := b.marker(ctx, ns, topic)
	return v.Retention, err
}

func (b *jsBackend) SetRetention(ctx context.Context, ns, topic string, d time.Duration) error {
	return b.setMarker(ctx, ns, topic, func(v *topicValue) { v.Retention = max(d, 0) })
}

// subjects lists the stream's subjects matching filter.
func (b *jsBackend) subjects(ctx context.Context, filter string) ([]string, error) {
	s, err := b.bind(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	out := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		out = append(out, subj)
	}
	return out, nil
}

func (b *jsBackend) Topics(ctx context.Context, ns string) ([]TopicInfo, error) {
	subjects, err := b.subjects(ctx, subjTopic+jsstorage.Token(ns)+".*")
	if err != nil {
		return nil, err
	}
	var out []TopicInfo
	for _, subj := range subjects {
		name, err := jsstorage.Name(subj[strings.LastIndexByte(subj, '.')+1:])
		if err != nil {
			continue
		}
		t := TopicInfo{Name: name}
		if t.Retention, err = b.Retention(ctx, ns, name); err != nil {
			return nil, err
		}
		if t.Last, err = b.LastSeq(ctx, ns, name); err != nil {
			return nil, err
		}
		t.First = t.Last + 1
		if first, err := b.get(ctx, eventsOf(ns, name), 1, true); err != nil {
			return nil, err
		} else if first != nil {
			ev, err := eventOf(name, first)
			if err != nil {
				return nil, err
			}
			t.First = ev.Seq
		}
		groups, err := b.subjects(ctx, subjGroup+jsstorage.Token(ns)+"."+jsstorage.Token(name)+".*")
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if name, err := jsstorage.Name(g[strings.LastIndexByte(g, '.')+1:]); err == nil {
				t.Groups = append(t.Groups, name)
			}
		}
		sortStrings(t.Groups)
		out = append(out, t)
	}
	sortTopics(out)
	return out, nil
}

// Sweep purges, topic by topic, the events published before their
// retention. Before taking a topic's every event it records the last
// number in the topic's marker: numbers never restart, as on SQLite.
func (b *jsBackend) Sweep(ctx context.Context, now time.Time, def time.Duration) (int64, error) {
	s, err := b.bind(ctx)
	if err != nil {
		return 0, err
	}
	subjects, err := b.subjects(ctx, subjTopic+">")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, subj := range subjects {
		parts := strings.Split(strings.TrimPrefix(subj, subjTopic), ".")
		if len(parts) != 2 {
			continue
		}
		ns, err1 := jsstorage.Name(parts[0])
		topic, err2 := jsstorage.Name(parts[1])
		if err1 != nil || err2 != nil {
			continue
		}
		d, err := b.Retention(ctx, ns, topic)
		if err != nil {
			return total, err
		}
		if d <= 0 {
			d = def
		}
		keep, err := b.SeqSince(ctx, ns, topic, now.Add(-d))
		if err != nil {
			return total, err
		}
		last, err := b.LastSeq(ctx, ns, topic)
		if err != nil {
			return total, err
		}
		first, err := b.get(ctx, eventsOf(ns, topic), 1, true)
		if err != nil || first == nil {
			if err != nil {
				return total, err
			}
			continue
		}
		fev, err := eventOf(topic, first)
		if err != nil {
			return total, err
		}
		if fev.Seq >= keep {
			continue
		}
		purge := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(eventsOf(ns, topic))}
		if keep > last {
			// Every event goes: the marker keeps the numbering first.
			tail, err := b.get(ctx, eventSubject(ns, topic, last), 0, false)
			if err != nil || tail == nil {
				if err != nil {
					return total, err
				}
				continue
			}
			lev, err := eventOf(topic, tail)
			if err != nil {
				return total, err
			}
			if err := b.setMarker(ctx, ns, topic, func(v *topicValue) {
				v.Last, v.Published = last, lev.Published.UnixNano()
			}); err != nil {
				return total, err
			}
			// Up to the last event only: one appended meanwhile stays.
			purge = append(purge, jetstream.WithPurgeSequence(tail.streamSeq+1))
		} else {
			kept, err := b.get(ctx, eventSubject(ns, topic, keep), 0, false)
			if err != nil || kept == nil {
				if err != nil {
					return total, err
				}
				continue
			}
			purge = append(purge, jetstream.WithPurgeSequence(kept.streamSeq))
		}
		if err := s.Purge(ctx, purge...); err != nil {
			return total, jsstorage.Unavailable(errID, err)
		}
		total += int64(min(keep, last+1) - fev.Seq)
	}
	return total, nil
}

func sortStrings(s []string) { slices.Sort(s) }

func sortTopics(t []TopicInfo) {
	slices.SortFunc(t, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
}
