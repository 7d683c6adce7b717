package jsstorage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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

// IsConflict reports a compare-and-set that lost, whether through Put and
// Delete or through a KeyValue's Create and Update: the key had moved on.
func IsConflict(err error) bool {
	return errors.Is(Conflict(err), ErrConflict) || errors.Is(err, jetstream.ErrKeyExists) ||
		errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
