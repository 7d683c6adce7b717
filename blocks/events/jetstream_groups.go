package events

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

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
