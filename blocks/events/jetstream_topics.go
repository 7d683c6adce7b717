package events

import (
	"context"
	stderrors "errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

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
