// Package jskv is what the blocks' JetStream backends share about NATS KV
// buckets: how a user-given name becomes a key token, how a bucket is
// created with the settings every backend relies on, and reading and
// writing one key with compare-and-set.
package jskv

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/natsjs"
)

// Token encodes a user-given name as one key token. NATS keys allow only
// [-/_=.A-Za-z0-9] and '.' separates tokens, while databases, tables,
// keys and service names may hold any string; lowercase hex round-trips
// every string and keeps byte order, so keys sort as the names do. The
// leading '_' keeps the empty string a valid token.
func Token(s string) string { return "_" + hex.EncodeToString([]byte(s)) }

// Name decodes a Token.
func Name(tok string) (string, error) {
	if !strings.HasPrefix(tok, "_") {
		return "", fmt.Errorf("key token %q is not an encoded name", tok)
	}
	b, err := hex.DecodeString(tok[1:])
	if err != nil {
		return "", fmt.Errorf("key token %q: %w", tok, err)
	}
	return string(b), nil
}

// Key joins tokens into a key.
func Key(tokens ...string) string { return strings.Join(tokens, ".") }

// Config is a bucket as the blocks use it.
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

// Bucket creates the bucket, or updates its settings, and binds it. It is
// idempotent, so every node runs it at start.
//
// The stream is the one a KV bucket is (KV_<bucket>, one message per key)
// with two changes: reads go to the stream leader rather than to any
// replica (AllowDirect off), so a read after an acknowledged write through
// another node sees it; and per-message TTLs are allowed, so an entry can
// expire by itself.
func Bucket(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.KeyValue, jetstream.Stream, error) {
	if c.Replicas < 1 {
		c.Replicas = 1
	}
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
		Replicas:               c.Replicas,
		AllowRollup:            true,
		DenyDelete:             true,
		Duplicates:             2 * time.Minute,
		Discard:                jetstream.DiscardNew,
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
	// Nodes starting together race to create it; natsjs retries and waits
	// until it answers.
	stream, err := natsjs.Stream(ctx, js, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating JetStream bucket %s: %w", c.Bucket, err)
	}
	kv, err := js.KeyValue(ctx, c.Bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("binding JetStream bucket %s: %w", c.Bucket, err)
	}
	return kv, stream, nil
}

// Subject is the stream subject of key in bucket.
func Subject(bucket, key string) string { return "$KV." + bucket + "." + key }

// Last reads key's latest message: its value and revision, with deleted
// set for a delete marker. A key never written (or whose message expired)
// is revision 0.
func Last(ctx context.Context, stream jetstream.Stream, bucket, key string) (value []byte, rev uint64, deleted bool, err error) {
	m, err := stream.GetLastMsgForSubject(ctx, Subject(bucket, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return m.Data, m.Sequence, Deleted(m.Header), nil
}

// Deleted reports whether a message with header h marks its key deleted:
// a KV delete or purge, or JetStream's marker where an entry expired.
func Deleted(h nats.Header) bool {
	op := h.Get("KV-Operation")
	return op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != ""
}

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

// Put writes value to key only if the key's latest revision is rev (0:
// none), with a time to live when ttl > 0 (at least a second, as NATS
// requires). It returns the new revision, or ErrConflict.
func Put(ctx context.Context, js jetstream.JetStream, bucket, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(max(ttl, time.Second)))
	}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: Subject(bucket, key), Data: value}, opts...)
	if err != nil {
		return 0, Conflict(err)
	}
	return ack.Sequence, nil
}

// Delete places a delete marker on key only if its latest revision is
// rev, or returns ErrConflict.
func Delete(ctx context.Context, js jetstream.JetStream, bucket, key string, rev uint64) (uint64, error) {
	m := &nats.Msg{Subject: Subject(bucket, key), Header: nats.Header{"KV-Operation": []string{"DEL"}}}
	ack, err := js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return 0, Conflict(err)
	}
	return ack.Sequence, nil
}

// ErrConflict is a compare-and-set whose key had moved on.
var ErrConflict = errors.New("key changed since it was read")

// Conflict returns ErrConflict for a wrong-last-sequence error (10071 on
// one server, 10164 on a replicated stream), else err.
func Conflict(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// Retries bounds a compare-and-set loop: a key rewritten this many times
// between one read and its write is under more contention than waiting
// helps.
const Retries = 64

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
