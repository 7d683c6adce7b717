package jsstorage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Scan calls fn with the latest message of every subject matching filter
// that the stream held when the scan began (headers only when
// headersOnly), through a short-lived consumer of its own.
func Scan(ctx context.Context, stream jetstream.Stream, filter string, headersOnly bool, fn func(jetstream.Msg) error) error {
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject: filter, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, AckPolicy: jetstream.AckNonePolicy,
		HeadersOnly: headersOnly, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("scanning %s: %w", filter, err)
	}
	info := cons.CachedInfo()
	defer stream.DeleteConsumer(context.WithoutCancel(ctx), info.Name) //nolint:errcheck // it also goes when inactive
	// Bounded by what was there at the start: writes during the scan are
	// not chased.
	for left := info.NumPending; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		// What the stream holds is there to take: no waiting for more.
		batch, err := fetch(ctx, cons, int(min(left, 512)))
		if err != nil {
			return fmt.Errorf("scanning %s: %w", filter, err)
		}
		n := uint64(0)
		for m := range batch.Messages() {
			n++
			if err := fn(m); err != nil {
				return err
			}
			if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 {
				left = n // nothing more matches
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("scanning %s: %w", filter, err)
		}
		if n == 0 {
			return nil // what was due went meanwhile (expired, or deleted)
		}
		left -= min(n, left)
	}
	return nil
}

// fetch takes up to n messages the consumer has ready. In a cluster the
// consumer may live on another server, whose interest in pull requests
// reaches this one's a moment after the consumer is created: until then a
// request has no responders, and it is sent again.
func fetch(ctx context.Context, cons jetstream.Consumer, n int) (jetstream.MessageBatch, error) {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		batch, err := cons.FetchNoWait(n)
		if err == nil {
			// A batch's error arrives with its end; no responders ends it
			// before any message.
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			if err = batch.Error(); errors.Is(err, jetstream.ErrNoMessages) {
				err = nil
			}
			if err == nil || len(msgs) > 0 || !errors.Is(err, nats.ErrNoResponders) {
				return replay{msgs, err}, nil
			}
		}
		if errors.Is(err, jetstream.ErrNoMessages) {
			return replay{}, nil
		}
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// replay is a batch already received.
type replay struct {
	msgs []jetstream.Msg
	err  error
}

func (r replay) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg, len(r.msgs))
	for _, m := range r.msgs {
		ch <- m
	}
	close(ch)
	return ch
}

func (r replay) Error() error { return r.err }

// Keys lists the keys of bucket whose subjects match filter (a key
// pattern, such as "acc.*"), deleted ones included, in one request to the
// stream's leader: no consumer, so it answers while a consumer could not
// be placed (a node just back).
func Keys(ctx context.Context, js jetstream.JetStream, bucket, filter string) ([]string, error) {
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(Subject(bucket, filter)))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, Subject(bucket, "")))
	}
	return keys, nil
}
