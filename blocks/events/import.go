package events

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/schema"
)

// importBatch bounds the events of one atomic publish of an import.
const importBatch = 100

// Held says what events holds on JetStream, "" when nothing: what an
// import into it would merge with.
func (e *Events) Held(ctx context.Context) (string, error) {
	b, ok := e.backend.(*jsBackend)
	if !ok {
		return "", stderrors.New("events: not on JetStream")
	}
	topics, err := b.subjects(ctx, subjTopic+">")
	if err != nil || len(topics) == 0 {
		return "", err
	}
	return fmt.Sprintf("%d topics", len(topics)), nil
}

// namespaces lists, sorted, the namespaces with a topic.
func (b *jsBackend) namespaces(ctx context.Context) ([]string, error) {
	topics, err := b.subjects(ctx, subjTopic+">")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, subj := range topics {
		tok, _, _ := strings.Cut(strings.TrimPrefix(subj, subjTopic), ".")
		if ns, err := jsstorage.Name(tok); err == nil {
			seen[ns] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// Import copies the events of an appliance's file from (opened with
// Migrations) into events on JetStream, topic by topic: every retained
// event with its sequence number, id, publish time, timestamp and
// metadata; the topic's own retention and where its numbering stands; and
// each durable group's position and pending events, so a group goes on
// where it was rather than reading everything again. A topic the cluster
// already has is kept as it is and its events in the file counted in
// kept: its numbers cannot be two topics' at once. So importing twice
// never duplicates an event.
func (e *Events) Import(ctx context.Context, from *schema.DB) (copied, kept int, err error) {
	dest, ok := e.backend.(*jsBackend)
	if !ok {
		return 0, 0, stderrors.New("events: not on JetStream")
	}
	src := newSQLite(from, e.now)
	namespaces, err := from.ReadStrings(ctx, `SELECT DISTINCT namespace FROM events_topics ORDER BY namespace`)
	if err != nil {
		return 0, 0, err
	}
	for _, ns := range namespaces {
		topics, err := src.Topics(ctx, ns)
		if err != nil {
			return copied, kept, err
		}
		for _, t := range topics {
			c, k, err := dest.importTopic(ctx, src, ns, t)
			if err != nil {
				return copied, kept, fmt.Errorf("events: topic %s of %s: %w", t.Name, ns, err)
			}
			copied, kept = copied+c, kept+k
		}
	}
	return copied, kept, nil
}

// importTopic copies one topic of src, unless the cluster has it.
func (b *jsBackend) importTopic(ctx context.Context, src *sqliteBackend, ns string, t TopicInfo) (copied, kept int, err error) {
	// This node's appends to the topic wait, and read it afresh after.
	tail := b.tail(topicKey{ns, t.Name})
	defer tail.mu.Unlock()
	tail.known = false
	held := int(t.Last + 1 - t.First)
	if _, ver, err := b.marker(ctx, ns, t.Name); err != nil || ver != 0 {
		return 0, held, err
	}
	if last, err := b.LastSeq(ctx, ns, t.Name); err != nil || last != 0 {
		return 0, held, err
	}
	var published int64
	if err := src.db.Read().QueryRowContext(ctx, `SELECT last_published FROM events_topics WHERE namespace = ? AND name = ?`,
		ns, t.Name).Scan(&published); err != nil {
		return 0, 0, err
	}
	marker, err := json.Marshal(topicValue{Retention: t.Retention, Last: t.Last, Published: published})
	if err != nil {
		return 0, 0, err
	}
	// The marker goes with the first events, expecting no topic: of two
	// imports racing, one lists the topic.
	m := nats.NewMsg(topicSubject(ns, t.Name))
	m.Data = marker
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	msgs := []*nats.Msg{m}
	var last uint64 // stream sequence of the topic's last event stored
	for from := t.First; ; {
		evs, err := src.Read(ctx, ns, t.Name, Query{From: from, Limit: importBatch})
		if err != nil {
			return copied, 0, err
		}
		for i, ev := range evs {
			m := nats.NewMsg(eventSubject(ns, t.Name, ev.Seq))
			m.Data = ev.Payload
			m.Header.Set(hdrID, ev.ID)
			m.Header.Set(hdrPublished, strconv.FormatInt(ev.Published.UnixNano(), 10))
			m.Header.Set(hdrTimestamp, strconv.FormatInt(ev.Timestamp, 10))
			if len(ev.Metadata) > 0 {
				md, err := json.Marshal(ev.Metadata)
				if err != nil {
					return copied, 0, err
				}
				m.Header.Set(hdrMetadata, string(md))
			}
			if i == 0 {
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last, 10))
				m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, eventsOf(ns, t.Name))
			}
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			if last, err = b.publish(ctx, msgs); err != nil {
				if stderrors.Is(err, errWrongLast) && copied == 0 {
					return 0, held, nil // listed by another import meanwhile
				}
				return copied, 0, err
			}
		}
		copied += len(evs)
		if len(evs) < importBatch {
			break
		}
		from, msgs = evs[len(evs)-1].Seq+1, nil
	}
	for _, name := range t.Groups {
		g, found, err := src.LoadGroup(ctx, ns, t.Name, name)
		if err != nil || !found {
			if err != nil {
				return copied, 0, err
			}
			continue
		}
		if _, _, err := b.SaveGroup(ctx, ns, t.Name, name, GroupChange{Next: g.Next, Put: g.Pending}); err != nil {
			return copied, 0, fmt.Errorf("group %s: %w", name, err)
		}
		copied++
	}
	b.js.Conn().Publish(subjWake+jsstorage.Token(ns)+"."+jsstorage.Token(t.Name), nil)
	return copied, 0, nil
}

// Export copies events on JetStream into to, a fresh file opened with
// Migrations, topic by topic: what Import carries the other way (every
// retained event with its number, id, publish time, timestamp and
// metadata; the topic's retention and where its numbering and publish
// times stand; each durable group's position and pending events), read
// through the Backend as Import reads the file's. A topic's groups are
// read before its last number, and events are copied up to that number:
// no group in the file stands past its topic's last event.
func (e *Events) Export(ctx context.Context, to *schema.DB) (copied int, err error) {
	src, ok := e.backend.(*jsBackend)
	if !ok {
		return 0, stderrors.New("events: not on JetStream")
	}
	dest := newSQLite(to, e.now)
	namespaces, err := src.namespaces(ctx)
	if err != nil {
		return 0, err
	}
	for _, ns := range namespaces {
		topics, err := src.Topics(ctx, ns)
		if err != nil {
			return copied, err
		}
		for _, t := range topics {
			c, err := src.exportTopic(ctx, dest, ns, t)
			copied += c
			if err != nil {
				return copied, fmt.Errorf("events: topic %s of %s: %w", t.Name, ns, err)
			}
		}
	}
	return copied, nil
}

// exportTopic copies one topic into dest, a page of events a commit.
func (b *jsBackend) exportTopic(ctx context.Context, dest *sqliteBackend, ns string, t TopicInfo) (copied int, err error) {
	groups := map[string]GroupState{}
	for _, name := range t.Groups {
		g, found, err := b.LoadGroup(ctx, ns, t.Name, name)
		if err != nil {
			return 0, fmt.Errorf("group %s: %w", name, err)
		}
		if found {
			groups[name] = g
		}
	}
	last, err := b.LastSeq(ctx, ns, t.Name)
	if err != nil {
		return 0, err
	}
	marker, _, err := b.marker(ctx, ns, t.Name)
	if err != nil {
		return 0, err
	}
	published := marker.Published
	if err := dest.putTopic(ctx, ns, t.Name, t.Retention, last, published, nil); err != nil {
		return 0, err
	}
	for from := t.First; from <= last; {
		evs, err := b.Read(ctx, ns, t.Name, Query{From: from, Limit: importBatch})
		if err != nil {
			return copied, err
		}
		for len(evs) > 0 && evs[len(evs)-1].Seq > last {
			evs = evs[:len(evs)-1] // published after the groups were read
		}
		if len(evs) == 0 {
			break
		}
		published = max(published, evs[len(evs)-1].Published.UnixNano())
		if err := dest.putTopic(ctx, ns, t.Name, t.Retention, last, published, evs); err != nil {
			return copied, err
		}
		copied += len(evs)
		from = evs[len(evs)-1].Seq + 1
	}
	for _, name := range t.Groups {
		g, ok := groups[name]
		if !ok {
			continue
		}
		if _, _, err := dest.SaveGroup(ctx, ns, t.Name, name, GroupChange{Next: g.Next, Put: g.Pending}); err != nil {
			return copied, fmt.Errorf("group %s: %w", name, err)
		}
		copied++
	}
	return copied, nil
}
