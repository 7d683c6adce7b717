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
		Name:               "KV_" + c.Bucket,
		Description:        c.Description,
		Subjects:           []string{"$KV." + c.Bucket + ".>"},
		MaxMsgsPerSubject:  1,
		MaxBytes:           c.MaxBytes,
		MaxMsgSize:         int32(min(c.MaxValueSize, 1<<31-1)),
		MaxMsgs:            -1,
		MaxConsumers:       -1,
		Storage:            jetstream.FileStorage,
		Replicas:           c.Replicas,
		AllowRollup:        true,
		DenyDelete:         true,
		Duplicates:         2 * time.Minute,
		Discard:            jetstream.DiscardNew,
		AllowMsgTTL:        true,
		AllowAtomicPublish: c.AtomicPublish,
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = -1
	}
	if cfg.MaxMsgSize <= 0 {
		cfg.MaxMsgSize = -1
	}
	stream, err := js.CreateOrUpdateStream(ctx, cfg)
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
	op := m.Header.Get("KV-Operation")
	return m.Data, m.Sequence, op == "DEL" || op == "PURGE", nil
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
