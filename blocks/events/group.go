package events

import (
	"context"
	stderrors "errors"
	"slices"
	"time"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/schema"
)

const (
	// readBatch is the most events a group reads at once.
	readBatch = 256
	// recentAcks is how many acked ids a group remembers, so that a late
	// ack (of an event since redelivered and acked elsewhere) is not taken
	// for a client's mistake.
	recentAcks = 4096
	// ackQueue bounds acks waiting for a group's loop.
	ackQueue = 1024
)

// group delivers a topic to the members of one consumer group. All its
// state is owned by its loop (run); members talk to it through the hub's
// lock (join, leave) and channels (acks, wake).
type group struct {
	e       *Events
	key     topicKey
	name    string
	durable bool
	start   uint64
	wake    chan struct{}
	acks    chan ackReq

	// Guarded by hub.mu.
	members  []*member
	joined   []*member // since the loop last looked
	left     []*member // since the loop last looked
	requeued []*Event  // unsent events of members that left
	closed   bool

	// Owned by run.
	next, saved uint64
	pending     map[uint64]*pending
	dirty       map[uint64]struct{} // pending seqs changed since the last save
	byID        map[string]uint64
	recent      map[string]struct{}
	recentRing  []string
	rr          int
	retryLimit  int64 // of the last member to join that acks by hand

	// On a shared backend (Events.shared): the version of the state last
	// loaded or saved, and the acks of a step whose save lost to another
	// node, applied again after reloading.
	version   uint64
	retryAcks []ackReq
	stepAcks  []ackReq
}

// pending is an event sent and not acked; member is nil once it is due for
// anyone.
type pending struct {
	Pending
	member *member
}

type ackReq struct {
	m       *member
	id      string
	success bool
}

// delivery is an event going to a member.
type delivery struct {
	m  *member
	ev *Event
}

func (g *group) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// ack queues an ack for the loop; false when the member's stream ended.
func (g *group) ack(m *member, id string, success bool) bool {
	select {
	case g.acks <- ackReq{m: m, id: id, success: success}:
		g.poke()
		return true
	case <-m.failed:
		return false
	case <-g.e.ctx.Done():
		return false
	}
}

// leave removes m. Events it failed to send, and those still in its
// buffer (which the loop drains, being their only sender), go back to the
// group.
func (g *group) leave(m *member) {
	h := g.e.hub
	h.mu.Lock()
	g.members = slices.DeleteFunc(g.members, func(x *member) bool { return x == m })
	g.left = append(g.left, m)
	g.requeued = append(g.requeued, m.unsent...)
	h.mu.Unlock()
	g.poke()
}

// run is the group's loop: apply acks and departures, redeliver what is
// due, deliver new events to members with room, save the group's state,
// and only then hand the events to the streams. It ends when the last
// member leaves, having saved what they left behind; when the block
// closes, members leave as their streams end.
func (g *group) run() {
	if err := g.load(); err != nil {
		g.abort(err)
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for loaded := true; ; loaded = false {
		changed := g.e.hub.changed(g.key)
		members, joined, left, requeued := g.snapshot()
		now := g.e.now()
		var c GroupChange
		for _, m := range joined {
			if !m.autoAck {
				g.retryLimit = m.retryLimit
			}
		}
		if g.shared() && !loaded {
			// Other nodes deliver this group too: start from its state
			// as saved.
			if err := g.reload(members, left); err != nil {
				g.abort(err)
				return
			}
		}
		g.applyAcks(now)
		g.release(left, requeued, now)
		room := g.room(members)
		out, err := g.redeliver(members, room, &c, now)
		more := false
		if err == nil {
			var fresh []delivery
			fresh, more, err = g.deliverNew(members, room, now)
			out = append(out, fresh...)
		}
		if err == nil {
			err = g.save(&c)
		}
		if stderrors.Is(err, errGroupChanged) {
			// Another node saved first: nothing planned here was sent;
			// reload, and apply this step's acks and departures again.
			g.retryAcks = append(g.retryAcks, g.stepAcks...)
			g.unsnapshot(left, requeued)
			continue
		}
		g.stepAcks = g.stepAcks[:0]
		if err != nil {
			g.abort(err)
			return
		}
		for _, d := range out {
			d.m.out <- d.ev
		}
		if len(members) == 0 && g.tryClose() {
			return
		}
		if more && g.anyRoom(members) {
			continue
		}

		// Sleep until something can change what to do: new events,
		// a member with room again, an ack, a join or leave, a due event.
		// Shared, look again every sharedPoll too: other nodes ack and
		// redeliver, and a wake-up from another node can be lost.
		wait := g.untilDue(now)
		if g.shared() {
			wait = min(wait, sharedPoll)
		}
		timer.Reset(wait)
		select {
		case <-g.wake:
		case <-changed:
		case <-timer.C:
		case <-g.e.stopped.Done():
			return
		}
	}
}

// load reads a durable group's saved state, creating it at its start when
// it has none.
func (g *group) load() error {
	g.next = g.start
	if !g.durable {
		return nil
	}
	ctx := context.Background()
	st, found, err := g.e.backend.LoadGroup(ctx, g.key.ns, g.key.topic, g.name)
	if err != nil {
		return err
	}
	if !found {
		_, ver, err := g.e.backend.SaveGroup(ctx, g.key.ns, g.key.topic, g.name, GroupChange{Next: g.next})
		if stderrors.Is(err, errGroupChanged) {
			return g.load() // another node made it first
		}
		if err != nil {
			return err
		}
		g.saved, g.version = g.next, ver
		return nil
	}
	g.next, g.saved, g.version = st.Next, st.Next, st.Version
	// Whoever held these went away with the last member (or the last
	// server): they are due now. Shared, only those this node held: other
	// nodes' members may hold the rest.
	now := g.e.now()
	for _, p := range st.Pending {
		if p.Due.After(now) && (!g.shared() || p.Node == g.e.node || p.Node == "") {
			p.Due = now
			g.dirty[p.Seq] = struct{}{}
		}
		g.pending[p.Seq] = &pending{Pending: p}
		g.byID[p.ID] = p.Seq
	}
	return nil
}

// sharedPoll is how often a group on a shared backend looks at its state
// with nothing else to wake it.
const sharedPoll = time.Second

func (g *group) shared() bool { return g.durable && g.e.shared }

// reload replaces the group's state with what is saved, keeping this
// node's members on the events they hold unless another node has sent
// them again since.
func (g *group) reload(members, left []*member) error {
	st, found, err := g.e.backend.LoadGroup(context.Background(), g.key.ns, g.key.topic, g.name)
	if err != nil || !found {
		return err
	}
	old := g.pending
	g.pending, g.byID = make(map[uint64]*pending, len(st.Pending)), make(map[string]uint64, len(st.Pending))
	for _, m := range members {
		m.inflight = 0
	}
	for _, p := range st.Pending {
		np := &pending{Pending: p}
		if o := old[p.Seq]; o != nil && o.member != nil && o.Deliveries == p.Deliveries && p.Node == g.e.node &&
			(slices.Contains(members, o.member) || slices.Contains(left, o.member)) {
			np.member = o.member
			np.member.inflight++
		}
		g.pending[p.Seq] = np
		g.byID[p.ID] = p.Seq
	}
	g.next, g.saved, g.version = st.Next, st.Next, st.Version
	clear(g.dirty)
	return nil
}

// unsnapshot gives back what snapshot took, for the next step.
func (g *group) unsnapshot(left []*member, requeued []*Event) {
	h := g.e.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	g.left = append(left, g.left...)
	g.requeued = append(requeued, g.requeued...)
}

// snapshot takes what members changed since the loop last looked.
func (g *group) snapshot() (members, joined, left []*member, requeued []*Event) {
	h := g.e.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	members = slices.Clone(g.members)
	joined, left, requeued = g.joined, g.left, g.requeued
	g.joined, g.left, g.requeued = nil, nil, nil
	return members, joined, left, requeued
}

// tryClose ends the group when it has no members left; a durable group's
// state is already saved, and the next member to join loads it again.
func (g *group) tryClose() bool {
	h := g.e.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(g.members) > 0 || len(g.joined) > 0 || len(g.left) > 0 || len(g.requeued) > 0 {
		return false
	}
	g.detach()
	return true
}

// detach removes the closed group from the hub; the caller holds hub.mu.
func (g *group) detach() {
	h := g.e.hub
	g.closed = true
	if ts := h.topics[g.key]; ts != nil {
		if ts.groups[g.name] == g {
			delete(ts.groups, g.name)
		}
		if len(ts.groups) == 0 {
			delete(h.topics, g.key)
		}
	}
}

// abort ends every member's stream after a failure to save or read.
func (g *group) abort(err error) {
	if g.e.ctx.Err() == nil {
		if stderrors.Is(err, schema.ErrClosed) {
			err = errShuttingDown
		} else {
			g.e.log.Error("events: consumer group failed", "namespace", g.key.ns, "topic", g.key.topic, "group", g.name, "err", err)
			err = errors.InternalServerError(errID, "consumer group %s failed: %v", g.name, err)
		}
	} else {
		err = errShuttingDown
	}
	h := g.e.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range g.members {
		m.fail(err)
	}
	g.detach()
}

// applyAcks takes the queued acks: an ack drops the event from pending, a
// nack makes it due now. An ack of an id the group is not waiting for ends
// that member's stream with a 400, unless the group acked it recently.
func (g *group) applyAcks(now time.Time) {
	retry := g.retryAcks
	g.retryAcks = nil
	for {
		var a ackReq
		if len(retry) > 0 {
			a, retry = retry[0], retry[1:]
		} else {
			select {
			case a = <-g.acks:
			default:
				return
			}
		}
		if a.m.autoAck {
			continue // nothing waits for an ack
		}
		if g.shared() {
			g.stepAcks = append(g.stepAcks, a)
		}
		seq, ok := g.byID[a.id]
		if !ok {
			// Shared, another node may have sent it again and had it
			// acked: not the client's mistake.
			if _, recent := g.recent[a.id]; !recent && !g.shared() {
				a.m.fail(errors.BadRequest(errID, "ack of %s: no event with that id awaits an ack in this group", a.id))
			}
			continue
		}
		p := g.pending[seq]
		if p.member != nil {
			p.member.inflight--
			p.member = nil
		}
		if a.success {
			g.forget(p)
			continue
		}
		p.Due = now
		g.dirty[seq] = struct{}{}
	}
}

// forget drops a pending event, remembering its id for late acks.
func (g *group) forget(p *pending) {
	delete(g.pending, p.Seq)
	g.dirty[p.Seq] = struct{}{}
	delete(g.byID, p.ID)
	if len(g.recentRing) >= recentAcks {
		delete(g.recent, g.recentRing[0])
		g.recentRing = g.recentRing[1:]
	}
	g.recent[p.ID] = struct{}{}
	g.recentRing = append(g.recentRing, p.ID)
}

// release makes the unacked events of members that left due now, and takes
// back events that never reached their stream (without counting them as a
// delivery).
func (g *group) release(left []*member, requeued []*Event, now time.Time) {
	for _, m := range left {
		for len(m.out) > 0 {
			requeued = append(requeued, <-m.out)
		}
	}
	if len(left) > 0 {
		for _, p := range g.pending {
			if p.member != nil && slices.Contains(left, p.member) {
				p.member.inflight--
				p.member, p.Due = nil, now
				g.dirty[p.Seq] = struct{}{}
			}
		}
	}
	for _, ev := range requeued {
		p := g.pending[ev.Seq]
		if p == nil {
			p = &pending{Pending: Pending{Seq: ev.Seq, ID: ev.ID}}
			g.pending[ev.Seq] = p
			g.byID[ev.ID] = ev.Seq
		} else if p.Deliveries > 0 {
			p.Deliveries--
		}
		p.member, p.Due = nil, now
		g.dirty[p.Seq] = struct{}{}
	}
}

// save writes what changed (a durable group's position and pending
// events; dead letters for every group) before anything is sent.
func (g *group) save(c *GroupChange) error {
	ctx := context.Background() // saves go on while the block closes
	deadTopic := g.key.topic + DeadSuffix
	switch {
	case g.durable && (g.next != g.saved || len(g.dirty) > 0 || len(c.Dead) > 0):
		c.Next, c.DeadTopic, c.Version = g.next, deadTopic, g.version
		for seq := range g.dirty {
			if p := g.pending[seq]; p != nil {
				c.Put = append(c.Put, p.Pending)
			} else {
				c.Remove = append(c.Remove, seq)
			}
		}
		_, ver, err := g.e.backend.SaveGroup(ctx, g.key.ns, g.key.topic, g.name, *c)
		if err != nil {
			return err
		}
		g.saved, g.version = g.next, ver
		clear(g.dirty)
	case !g.durable && len(c.Dead) > 0:
		if _, err := g.e.backend.Append(ctx, g.key.ns, deadTopic, c.Dead); err != nil {
			return err
		}
	default:
		clear(g.dirty)
		return nil
	}
	if len(c.Dead) > 0 {
		g.e.hub.notify(topicKey{g.key.ns, deadTopic})
	}
	return nil
}

// untilDue is how long until the next pending event falls due (an hour
// when none will).
func (g *group) untilDue(now time.Time) time.Duration {
	wait := time.Hour
	for _, p := range g.pending {
		if d := p.Due.Sub(now); d > 0 && d < wait {
			wait = d
		}
	}
	return wait
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func seqOf(ps []*pending) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Seq
	}
	return out
}
