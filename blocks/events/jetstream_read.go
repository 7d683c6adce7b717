package events

import (
	"context"
	"time"
)

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
