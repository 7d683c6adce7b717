// Package natsjs binds the blocks' JetStream buckets and streams the same
// way everywhere: created or updated idempotently, and only handed back
// once they answer, because nodes of a cluster starting together race to
// create the same bucket and a just-created replicated stream has, for a
// moment, nobody answering reads.
package natsjs

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// attemptTimeout bounds one create-or-update: a create racing the same
// create on another node can go unanswered, and trying again succeeds.
const attemptTimeout = 2 * time.Second

// attempts bounds the tries of a create-or-update, and (each a short pause
// apart) of the first read.
const (
	createAttempts = 5
	readAttempts   = 150
)

// KeyValue creates or updates the bucket cfg describes and returns it once
// it answers reads.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := retry(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.CreateOrUpdateKeyValue(ctx, cfg)
	})
	if err != nil {
		return nil, err
	}
	return kv, answers(ctx, func(ctx context.Context) error {
		_, err := kv.Get(ctx, "micro-probe")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		return err
	})
}

// Stream creates or updates the stream cfg describes and returns it once
// it answers.
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := retry(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, cfg)
	})
	if err != nil {
		return nil, err
	}
	return s, answers(ctx, func(ctx context.Context) error {
		_, err := s.Info(ctx)
		return err
	})
}

func retry[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for attempt := 0; attempt < createAttempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err = fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return v, err
		}
	}
	return v, err
}

func answers(ctx context.Context, probe func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := probe(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) || attempt == readAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// transient reports errors of a cluster still settling: nobody answering
// yet, an answer that did not come in time, a leader being elected.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 504 || apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
}
