package events

import (
	"sync"

	"github.com/google/uuid"
)

// hub knows the topics that have consumers: their groups, and a channel
// closed (and replaced) each time events are committed to the topic.
type hub struct {
	e      *Events
	mu     sync.Mutex
	topics map[topicKey]*topicState
}

type topicState struct {
	changed chan struct{}
	groups  map[string]*group
}

func newHub(e *Events) *hub {
	return &hub{e: e, topics: map[topicKey]*topicState{}}
}

// notify wakes the consumers of a topic after events were committed to it.
func (h *hub) notify(k topicKey) {
	h.mu.Lock()
	if ts := h.topics[k]; ts != nil {
		close(ts.changed)
		ts.changed = make(chan struct{})
	}
	h.mu.Unlock()
}

// changed returns the channel the next commit to a topic will close.
func (h *hub) changed(k topicKey) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ts := h.topics[k]; ts != nil {
		return ts.changed
	}
	return nil
}

// join adds m to its group, starting the group's loop when it is the
// first member. A subscription without a group gets a group of its own,
// which is never saved.
func (h *hub) join(k topicKey, sub subscription, m *member) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.e.ctx.Err() != nil {
		return nil, errShuttingDown
	}
	ts := h.topics[k]
	if ts == nil {
		ts = &topicState{changed: make(chan struct{}), groups: map[string]*group{}}
		h.topics[k] = ts
	}
	name, durable := sub.group, sub.group != ""
	if !durable {
		name = "\x00" + uuid.NewString() // cannot clash with a named group
	}
	g := ts.groups[name]
	if g == nil {
		g = &group{
			e: h.e, key: k, name: name, durable: durable, start: sub.start,
			wake: make(chan struct{}, 1), acks: make(chan ackReq, ackQueue),
			pending: map[uint64]*pending{}, dirty: map[uint64]struct{}{}, byID: map[string]uint64{},
			recent: map[string]struct{}{}, retryLimit: -1,
		}
		ts.groups[name] = g
		h.e.wg.Go(g.run)
	}
	g.members = append(g.members, m)
	g.joined = append(g.joined, m)
	g.poke()
	return g, nil
}
