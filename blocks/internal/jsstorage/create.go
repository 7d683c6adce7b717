// Package jsstorage is how the blocks keep their state on JetStream, the
// same way in every block: creating their buckets, object stores and
// streams (idempotently, and only handed back once they answer, because
// nodes of a cluster starting together race to create the same bucket and
// a just-created replicated stream has, for a moment, nobody answering
// reads), encoding names as key tokens, reading and writing one key with
// compare-and-set, scanning a bucket, direct gets, and turning a failure
// to reach the cluster into the caller's answer.
package jsstorage

import (
	"context"
	"errors"
	"fmt"
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
	createAttempts = 10
	readAttempts   = 150
)

// createPause is the pause before a create's second attempt, growing by
// as much before each next one (about 11 s of pauses in all).
const createPause = 250 * time.Millisecond

// errCodeNoPeers is JetStream's "no suitable peers for placement": a
// replicated stream asked for while a node of the cluster is not up yet
// (nodes start together, and each goes on once a majority is).
const errCodeNoPeers jetstream.ErrorCode = 10005

// Config is a bucket as the blocks use it: file storage, one value per key.
type Config struct {
	Bucket      string
	Description string
	Replicas    int
	// MaxBytes caps the bucket's storage; MaxValueSize one value.
	MaxBytes, MaxValueSize int64
	// AtomicPublish allows atomic batch publishes (all of a batch's
	// messages stored or none).
	AtomicPublish bool
	// MarkerTTL, when set, has JetStream put a marker (header
	// Nats-Marker-Reason) where an entry expired by its TTL, kept that long:
	// watchers hear of the expiry.
	MarkerTTL time.Duration
	// Republish, when set, is the subject prefix every stored message is
	// also published to (core NATS, by the stream leader, in stream order,
	// headers Nats-Sequence and Nats-Last-Sequence added): a feed that
	// does not depend on the message still being stored when read.
	Republish string
}

// Bucket creates the bucket, or updates its settings, and binds it once it
// answers. It is idempotent, so every node runs it at start.
//
// The stream is the one a KV bucket is (KV_<bucket>, one message per key)
// made here rather than by the client library, with two changes: direct
// gets are off, so reads are answered by the stream's leader and a read
// through any node sees every write acknowledged before it (a direct get
// may be answered by a replica a moment behind), which the blocks need for
// what is written through one node and read through another at once; and
// per-message TTLs are allowed, so an entry can expire by itself.
func Bucket(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.KeyValue, jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:                   "KV_" + c.Bucket,
		Description:            c.Description,
		Subjects:               []string{"$KV." + c.Bucket + ".>"},
		MaxMsgsPerSubject:      1,
		MaxBytes:               c.MaxBytes,
		MaxMsgSize:             int32(min(c.MaxValueSize, 1<<31-1)),
		MaxMsgs:                -1,
		MaxConsumers:           -1,
		Storage:                jetstream.FileStorage,
		Replicas:               max(c.Replicas, 1),
		AllowRollup:            true,
		DenyDelete:             true,
		Duplicates:             2 * time.Minute,
		Discard:                jetstream.DiscardNew,
		AllowDirect:            false,
		AllowMsgTTL:            true,
		AllowAtomicPublish:     c.AtomicPublish,
		SubjectDeleteMarkerTTL: c.MarkerTTL,
	}
	if c.Republish != "" {
		cfg.RePublish = &jetstream.RePublish{Source: "$KV." + c.Bucket + ".>", Destination: c.Republish + ".>"}
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = -1
	}
	if cfg.MaxMsgSize <= 0 {
		cfg.MaxMsgSize = -1
	}
	stream, err := Stream(ctx, js, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating JetStream bucket %s: %w", c.Bucket, err)
	}
	kv, err := retry(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.KeyValue(ctx, c.Bucket)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("binding JetStream bucket %s: %w", c.Bucket, err)
	}
	// The stream answering its info is not yet its leader answering reads
	// (nodes starting together see a first get time out without this).
	return kv, stream, answers(ctx, func(ctx context.Context) error {
		_, err := kv.Get(ctx, "micro-probe")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		return err
	})
}

// ObjectStore creates or updates the object store cfg describes and
// returns it, and the stream it is, once it answers.
func ObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, jetstream.Stream, error) {
	obs, err := retry(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return js.CreateOrUpdateObjectStore(ctx, cfg)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating JetStream object store %s: %w", cfg.Bucket, err)
	}
	stream, err := retry(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return js.Stream(ctx, "OBJ_"+cfg.Bucket)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("binding JetStream object store %s: %w", cfg.Bucket, err)
	}
	return obs, stream, answers(ctx, func(ctx context.Context) error {
		_, err := obs.GetInfo(ctx, "micro-probe")
		if errors.Is(err, jetstream.ErrObjectNotFound) {
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
		if attempt > 0 {
			// Some refusals come at once (no peer yet for a replica): a
			// pause, growing, gives the cluster time to settle.
			select {
			case <-ctx.Done():
				return v, err
			case <-time.After(time.Duration(attempt) * createPause):
			}
		}
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
// yet, an answer that did not come in time, a leader being elected, a
// node not up yet to hold a replica.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 504 || apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound ||
			apiErr.ErrorCode == errCodeNoPeers
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
}
