package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// When the nodes of a cluster start together, each block on each node
// creates or updates its streams and buckets at the same moment. Some of
// those concurrent requests for the same stream get no answer from
// nats-server 2.15.3 (seen with CreateOrUpdateKeyValue from three nodes at
// once; the stream is created, and the same request sent again answers at
// once). retryingJS gives the blocks a JetStream whose create-or-update
// calls try again, in bounded attempts, when an attempt gets no answer, so
// no block needs to know.
type retryingJS struct{ jetstream.JetStream }

const (
	// attemptTimeout bounds one create-or-update request.
	attemptTimeout = 3 * time.Second
	// retryFor bounds all attempts when the caller's context has no
	// deadline.
	retryFor = 30 * time.Second
)

func retry[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, retryFor)
		defer cancel()
	}
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err := call(actx)
		cancel()
		noAnswer := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		if err == nil || !noAnswer || ctx.Err() != nil {
			return v, err
		}
	}
}

func (r retryingJS) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return r.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
	})
}

func (r retryingJS) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return r.JetStream.CreateKeyValue(ctx, cfg) })
}

func (r retryingJS) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return r.JetStream.CreateOrUpdateStream(ctx, cfg) })
}

func (r retryingJS) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.Stream, error) { return r.JetStream.CreateStream(ctx, cfg) })
}

func (r retryingJS) CreateOrUpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return r.JetStream.CreateOrUpdateObjectStore(ctx, cfg)
	})
}

func (r retryingJS) CreateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return r.JetStream.CreateObjectStore(ctx, cfg)
	})
}

func (r retryingJS) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return retry(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
		return r.JetStream.CreateOrUpdateConsumer(ctx, stream, cfg)
	})
}
