package events

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// room is how many events each member can take now: its free buffer (once
// at least half is free, so saves are batched), and for manual acks what is
// left of its in-flight allowance.
func (g *group) room(members []*member) map[*member]int {
	room := make(map[*member]int, len(members))
	for _, m := range members {
		free := cap(m.out) - len(m.out)
		if len(m.out) > 0 && free < cap(m.out)/2 {
			free = 0
		}
		if !m.autoAck {
			free = min(free, g.e.maxInflight-m.inflight)
		}
		room[m] = max(free, 0)
	}
	return room
}

func (g *group) anyRoom(members []*member) bool {
	for _, n := range g.room(members) {
		if n > 0 {
			return true
		}
	}
	return false
}

// pick chooses the next member with room, round robin.
func (g *group) pick(members []*member, room map[*member]int) *member {
	for i := range members {
		m := members[(g.rr+i)%len(members)]
		if room[m] > 0 {
			g.rr = (g.rr + i + 1) % len(members)
			room[m]--
			return m
		}
	}
	return nil
}

// assign plans sending ev to m: acked at once for an auto-ack member,
// else pending until acked or ackWait passes.
func (g *group) assign(m *member, ev *Event, p *pending, now time.Time) delivery {
	if m.autoAck {
		if p != nil {
			g.forget(p)
		}
		return delivery{m: m, ev: ev}
	}
	if p == nil {
		p = &pending{Pending: Pending{Seq: ev.Seq, ID: ev.ID}}
		g.pending[ev.Seq] = p
		g.byID[ev.ID] = ev.Seq
	}
	p.Deliveries++
	p.Due = now.Add(m.ackWait)
	p.member, p.Node = m, g.e.node
	m.inflight++
	g.dirty[p.Seq] = struct{}{}
	return delivery{m: m, ev: ev}
}

// redeliver sends due events again, oldest first, to members with room;
// an event redelivered retry_limit times goes to the dead-letter topic.
func (g *group) redeliver(members []*member, room map[*member]int, c *GroupChange, now time.Time) ([]delivery, error) {
	var due []*pending
	for _, p := range g.pending {
		if !p.Due.After(now) {
			due = append(due, p)
		}
	}
	if len(due) == 0 {
		return nil, nil
	}
	slices.SortFunc(due, func(a, b *pending) int { return compareSeq(a.Seq, b.Seq) })
	var seqs []uint64
	var dead []*pending
	budget := 0
	for _, n := range room {
		budget += n
	}
	for _, p := range due {
		if p.member != nil {
			p.member.inflight--
			p.member = nil
		}
		switch {
		case g.retryLimit >= 0 && p.Deliveries > g.retryLimit:
			dead = append(dead, p)
		case len(seqs) < budget && len(seqs) < readBatch:
			seqs = append(seqs, p.Seq)
		}
	}
	if len(seqs)+len(dead) == 0 {
		return nil, nil
	}
	fetch := append(slices.Clone(seqs), seqOf(dead)...)
	nb, err := g.e.notBefore(context.Background(), g.key)
	if err != nil {
		return nil, err
	}
	evs, err := g.e.backend.Read(context.Background(), g.key.ns, g.key.topic, Query{Seqs: fetch, NotBefore: nb})
	if err != nil {
		return nil, err
	}
	bySeq := make(map[uint64]*Event, len(evs))
	for i := range evs {
		bySeq[evs[i].Seq] = &evs[i]
	}
	for _, p := range dead {
		if ev := bySeq[p.Seq]; ev != nil {
			c.Dead = append(c.Dead, g.deadLetter(ev, p.Deliveries))
		}
		g.forget(p)
	}
	var out []delivery
	for _, seq := range seqs {
		p, ev := g.pending[seq], bySeq[seq]
		if ev == nil { // expired meanwhile
			g.forget(p)
			continue
		}
		m := g.pick(members, room)
		if m == nil {
			break
		}
		out = append(out, g.assign(m, ev, p, now))
	}
	return out, nil
}

// deliverNew reads events from the group's position and hands them to
// members with room.
// more reports a full read: there may be more to read at once.
func (g *group) deliverNew(members []*member, room map[*member]int, now time.Time) (out []delivery, more bool, err error) {
	budget := 0
	for _, n := range room {
		budget += n
	}
	if budget == 0 {
		return nil, false, nil
	}
	nb, err := g.e.notBefore(context.Background(), g.key)
	if err != nil {
		return nil, false, err
	}
	limit := min(budget, readBatch)
	evs, err := g.e.backend.Read(context.Background(), g.key.ns, g.key.topic, Query{From: g.next, NotBefore: nb, Limit: limit})
	if err != nil {
		return nil, false, err
	}
	out = make([]delivery, 0, len(evs))
	for i := range evs {
		m := g.pick(members, room)
		if m == nil {
			break
		}
		out = append(out, g.assign(m, &evs[i], nil, now))
		g.next = evs[i].Seq + 1
	}
	return out, len(evs) == limit, nil
}

// deadLetter is ev as it goes to the dead-letter topic: same payload and
// metadata, plus where it came from. It gets an id of its own, since one
// event may be dead-lettered by several groups.
func (g *group) deadLetter(ev *Event, deliveries int64) Event {
	md := make(map[string]string, len(ev.Metadata)+5)
	for k, v := range ev.Metadata {
		md[k] = v
	}
	md["Micro-Dead-Letter-Id"] = ev.ID
	md["Micro-Dead-Letter-Topic"] = ev.Topic
	md["Micro-Dead-Letter-Sequence"] = strconv.FormatUint(ev.Seq, 10)
	md["Micro-Dead-Letter-Deliveries"] = strconv.FormatInt(deliveries, 10)
	if g.durable {
		md["Micro-Dead-Letter-Group"] = g.name
	}
	return Event{ID: uuid.NewString(), Metadata: md, Payload: ev.Payload, Timestamp: ev.Timestamp}
}
