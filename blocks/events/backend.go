package events

import (
	"context"
	"time"
)

// Backend is where events, topics and durable consumer groups persist. The
// block's rules (validation, namespaces, retention defaults, delivery to
// group members, acks, redelivery, dead letters) live above it in Events,
// so every backend serves the same API with the same behaviour.
type Backend interface {
	// Append stores evs on a topic in order and returns them with Seq (the
	// topic's next sequence numbers) and Published (never earlier than the
	// topic's previous event) set. All are stored or none.
	Append(ctx context.Context, ns, topic string, evs []Event) ([]Event, error)
	// Read returns events of a topic published at or after q.NotBefore, in
	// sequence order: those with the sequence numbers in q.Seqs when it is
	// set, else from q.From on, skipping q.Offset and at most q.Limit
	// (0: no limit).
	Read(ctx context.Context, ns, topic string, q Query) ([]Event, error)
	// SeqSince returns the sequence number of the first event published at
	// or after t, or the topic's last sequence + 1 when there is none.
	SeqSince(ctx context.Context, ns, topic string, t time.Time) (uint64, error)
	// LastSeq returns the sequence number of the newest event ever
	// published on the topic (0 for none).
	LastSeq(ctx context.Context, ns, topic string) (uint64, error)

	// LoadGroup returns a durable group's position and pending events;
	// found is false for a group never saved.
	LoadGroup(ctx context.Context, ns, topic, group string) (g GroupState, found bool, err error)
	// SaveGroup applies c to a durable group (creating it) atomically with
	// appending c.Dead to the topic c.DeadTopic, and returns the appended
	// dead letters and the group's new version. A backend shared by
	// several nodes (Shared) refuses, with errGroupChanged, a change to a
	// group whose version is no longer c.Version.
	SaveGroup(ctx context.Context, ns, topic, group string, c GroupChange) ([]Event, uint64, error)

	// Topics lists a namespace's topics in name order.
	Topics(ctx context.Context, ns string) ([]TopicInfo, error)
	// Retention returns a topic's own retention, 0 when it has none.
	Retention(ctx context.Context, ns, topic string) (time.Duration, error)
	// SetRetention sets a topic's own retention (creating the topic); 0
	// removes it.
	SetRetention(ctx context.Context, ns, topic string, d time.Duration) error
	// Sweep deletes events published before now minus their topic's
	// retention (def when it has none), and pending deliveries of them,
	// and reports how many events it deleted.
	Sweep(ctx context.Context, now time.Time, def time.Duration) (int64, error)
}

// Event is one published event.
type Event struct {
	ID    string
	Topic string
	// Seq is the event's sequence number in its topic, from 1.
	Seq      uint64
	Metadata map[string]string
	Payload  []byte
	// Timestamp is the event's own time in unix seconds.
	Timestamp int64
	// Published is when the server stored it.
	Published time.Time
}

// Query selects events of one topic.
type Query struct {
	From          uint64
	Seqs          []uint64
	NotBefore     time.Time
	Limit, Offset int
}

// GroupState is a durable group as saved.
type GroupState struct {
	// Next is the first sequence number not yet delivered to the group.
	Next    uint64
	Pending []Pending
	// Version identifies this state for SaveGroup's check on a shared
	// backend; 0 on SQLite, where one node owns every group.
	Version uint64
}

// Pending is an event a group was sent and has not acked.
type Pending struct {
	Seq        uint64
	ID         string
	Deliveries int64
	Due        time.Time
	// Node is the node whose member holds it, on a shared backend (which
	// keeps it); "" on SQLite.
	Node string
}

// GroupChange is what one step of a group's delivery changed.
type GroupChange struct {
	Next uint64
	// Put adds or replaces pending events; Remove drops them (acked, or
	// dead-lettered, or gone from the topic).
	Put    []Pending
	Remove []uint64
	// Dead are appended to DeadTopic in the same transaction.
	DeadTopic string
	Dead      []Event
	// Version is the version of the state the change was made to (0: a
	// group never saved); a shared backend checks it.
	Version uint64
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name        string
	First, Last uint64
	// Retention is the topic's own setting, 0 when it has none.
	Retention time.Duration
	Groups    []string
}
