package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/framework/errors"
)

// Bucket is the store's KV bucket in a cluster.
const Bucket = "micro_store"

const (
	// maxBucketBytes is no cap of the bucket's own: JetStream reserves a
	// bucket's cap against the server's storage, and the store is most of
	// it. The server's JetStream storage limit (max_file_store) bounds it
	// instead, as the disk bounds the SQLite file; a write past it fails.
	maxBucketBytes = 0
	// deletedTTL is how long a delete's marker stays: long enough for
	// every node's watch to see it, then the key leaves no trace.
	deletedTTL = 15 * time.Minute
	// batchRetryWait spaces the attempts of a batch that JetStream
	// refused for too many batches in flight.
	batchRetryWait = 20 * time.Millisecond
)

// Headers of a record's message. The value is the message's data.
const (
	hdrCreated  = "Micro-Created"  // unix ns
	hdrUpdated  = "Micro-Updated"  // unix ns
	hdrExpires  = "Micro-Expires"  // unix ns; absent: never
	hdrMetadata = "Micro-Metadata" // base64url of the JSON; absent: none
	// hdrChange is what the write did, as watchers hear it: create,
	// update, expire+create, delete, expire, or none.
	hdrChange = "Micro-Change"
	// hdrPrevious is the revision a delete removed.
	hdrPrevious = "Micro-Previous"
)

const changeNone, changeExpireCreate = "none", "expire+create"

// republish is where the bucket's leader republishes every write, for
// every node's watchers.
const republish = "micro.store.changes"

// jsBackend keeps records in a JetStream KV bucket, one entry per record
// (key: database.table.key, each an encoded token; value: the record's
// bytes; the rest in headers), so every node of a cluster reads and writes
// the same records.
//
// A record's revision is its entry's revision: the stream sequence of its
// last write, which grows with every write to the bucket, not 1, 2, 3 per
// record. Writes read the current entry and publish only if it is still at
// that revision (compare-and-set), which keeps ifRevision, Created and the
// change reported exact. A batch is one atomic batch publish carrying, on
// the first message of each key, the revision it was read at: JetStream
// stores all of it or none, and none if any key moved on.
//
// Expiry is JetStream's: a record's message carries a TTL, and JetStream
// removes it at its expiry and leaves a marker, which every node's watch
// reports as an expiry. Reads hide expired records by the clock at once.
type jsBackend struct {
	js       jetstream.JetStream
	replicas int
	now      func() time.Time
	notify   Notifier

	mu     sync.RWMutex
	stream jetstream.Stream
}

func newJetStream(js jetstream.JetStream, replicas int, now func() time.Time, notify Notifier) *jsBackend {
	return &jsBackend{js: js, replicas: replicas, now: now, notify: notify}
}

// start creates or binds the bucket and returns the loop feeding the
// watchers from it until ctx ends.
func (b *jsBackend) start(ctx, run context.Context) (func(), error) {
	_, stream, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{Bucket: Bucket, Description: "micro store: records",
		Replicas: b.replicas, MaxBytes: maxBucketBytes, MaxValueSize: MaxValueSize + 64<<10,
		AtomicPublish: true, MarkerTTL: deletedTTL, Republish: republish})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b.mu.Lock()
	b.stream = stream
	b.mu.Unlock()
	// Changes from now on, every node's and this one's, in the stream's
	// order: the one commit order every node's watchers see. The bucket
	// keeps one message per key, so a consumer reading it would miss a
	// value overwritten before it got there; the leader republishes every
	// message as it stores it instead.
	msgs := make(chan *nats.Msg, 4096)
	sub, err := b.js.Conn().ChanSubscribe(republish+".>", msgs)
	if err != nil {
		return nil, fmt.Errorf("store: watching bucket %s: %w", Bucket, err)
	}
	if err := b.js.Conn().FlushTimeout(10 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("store: watching bucket %s: %w", Bucket, err)
	}
	return func() {
		defer sub.Unsubscribe() //nolint:errcheck // the connection may be closing
		var last uint64
		for {
			select {
			case <-run.Done():
				return
			case m := <-msgs:
				seq, _ := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
				if last != 0 && seq > last+1 {
					// Lost on the way (this node fell behind, a leader
					// changed): its watchers cannot be told what they missed.
					b.notify.Lost()
				}
				if seq > last {
					last = seq
				}
				if changes := b.changesOf(strings.TrimPrefix(m.Subject, republish+"."), m.Header, m.Data, seq); len(changes) > 0 {
					b.notify.Commit(b.notify.Reserve(), changes)
				}
			}
		}
	}, nil
}

func (b *jsBackend) ready() (jetstream.Stream, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.stream == nil {
		return nil, stderrors.New("store: not started")
	}
	return b.stream, nil
}

func recordKey(database, table, key string) string {
	return jsstorage.Key(jsstorage.Token(database), jsstorage.Token(table), jsstorage.Token(key))
}

func splitKey(k string) (database, table, key string, err error) {
	toks := strings.Split(k, ".")
	if len(toks) != 3 {
		return "", "", "", fmt.Errorf("store: key %q is not database.table.key", k)
	}
	var out [3]string
	for i, t := range toks {
		if out[i], err = jsstorage.Name(t); err != nil {
			return "", "", "", err
		}
	}
	return out[0], out[1], out[2], nil
}

// changesOf turns a message of the feed (its key, headers, data and
// sequence) into the changes watchers hear.
func (b *jsBackend) changesOf(k string, h nats.Header, data []byte, seq uint64) []Change {
	database, table, key, err := splitKey(k)
	if err != nil {
		return nil
	}
	c := Change{Database: database, Table: table, Record: Record{Key: key}}
	if h.Get(jetstream.MarkerReasonHeader) != "" {
		// JetStream removed an expired record; its revision went with it.
		c.Type = ChangeExpire
		return []Change{c}
	}
	prev, _ := strconv.ParseInt(h.Get(hdrPrevious), 10, 64)
	switch typ := h.Get(hdrChange); typ {
	case ChangeDelete, ChangeExpire:
		c.Type, c.Record.Revision = typ, prev
		return []Change{c}
	case ChangeCreate, ChangeUpdate, changeExpireCreate:
		r, err := decodeRecord(key, h, data, seq)
		if err != nil {
			return nil
		}
		if typ != changeExpireCreate {
			return []Change{{Type: typ, Database: database, Table: table, Record: r}}
		}
		return []Change{
			{Type: ChangeExpire, Database: database, Table: table, Record: Record{Key: key, Revision: prev}},
			{Type: ChangeCreate, Database: database, Table: table, Record: r},
		}
	}
	return nil
}

func decodeRecord(key string, h nats.Header, data []byte, rev uint64) (Record, error) {
	r := Record{Key: key, Value: data, Revision: int64(rev)}
	if r.Value == nil {
		r.Value = []byte{}
	}
	nanos := func(name string) (time.Time, error) {
		v := h.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("record %q: header %s: %w", key, name, err)
		}
		return time.Unix(0, n), nil
	}
	var err error
	if r.Created, err = nanos(hdrCreated); err != nil {
		return r, err
	}
	if r.Updated, err = nanos(hdrUpdated); err != nil {
		return r, err
	}
	if r.ExpiresAt, err = nanos(hdrExpires); err != nil {
		return r, err
	}
	if v := h.Get(hdrMetadata); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err == nil {
			err = json.Unmarshal(raw, &r.Metadata)
		}
		if err != nil {
			return r, fmt.Errorf("record %q: metadata: %w", key, err)
		}
	}
	return r, nil
}

// state is a key as a write found it.
type state struct {
	rev     uint64 // the entry's revision, a delete's marker included; 0: none
	live    bool   // a record readers see
	expired bool   // a record that expired but is still stored
	created time.Time
	// batched is set once an earlier operation of the batch wrote or
	// deleted the key: its revision is not known until the batch commits.
	batched bool
}

// current reads key's entry from the stream leader.
func (b *jsBackend) current(ctx context.Context, stream jetstream.Stream, key string, now time.Time) (state, error) {
	m, err := stream.GetLastMsgForSubject(ctx, jsstorage.Subject(Bucket, key))
	if stderrors.Is(err, jetstream.ErrMsgNotFound) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	s := state{rev: m.Sequence}
	if jsstorage.Deleted(m.Header) {
		return s, nil
	}
	r, err := decodeRecord(key, m.Header, nil, m.Sequence)
	if err != nil {
		return s, err
	}
	s.created = r.Created
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
		s.expired = true
	} else {
		s.live = true
	}
	return s, nil
}

// revision is the revision a condition is checked against: an expired
// record counts as absent.
func (s state) revision() int64 {
	if !s.live {
		return 0
	}
	return int64(s.rev)
}

func (b *jsBackend) Write(ctx context.Context, database, table string, r Record, ifRevision *int64) (int64, error) {
	revs, err := b.Batch(ctx, database, []Op{{Table: table, Write: &r, IfRevision: ifRevision}})
	var bf *BatchFailed
	if stderrors.As(err, &bf) {
		return 0, bf.Err
	}
	if err != nil {
		return 0, err
	}
	return revs[0], nil
}

func (b *jsBackend) Delete(ctx context.Context, database, table, key string, ifRevision *int64) error {
	_, err := b.Batch(ctx, database, []Op{{Table: table, DeleteKey: key, IfRevision: ifRevision}})
	var bf *BatchFailed
	if stderrors.As(err, &bf) {
		return bf.Err
	}
	return err
}

// Batch reads the keys ops touch, checks the conditions, and publishes
// one message per operation in one atomic batch (one plain publish for a
// single operation), each key's first message expecting the revision it
// was read at. When another writer moved a key on in between, it starts
// again from the read.
func (b *jsBackend) Batch(ctx context.Context, database string, ops []Op) ([]int64, error) {
	stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	for range jsstorage.Retries {
		msgs, err := b.plan(ctx, stream, database, ops)
		if err != nil {
			return nil, err
		}
		if msgs == nil {
			return make([]int64, len(ops)), nil // nothing to change
		}
		revs, err := b.publish(ctx, msgs)
		if stderrors.Is(err, jsstorage.ErrConflict) || stderrors.Is(err, errBatchBusy) {
			if stderrors.Is(err, errBatchBusy) {
				time.Sleep(batchRetryWait)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]int64, len(ops))
		for i, op := range ops {
			if op.Write != nil {
				out[i] = int64(revs[i])
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("store: batch: %w %d times in a row", jsstorage.ErrConflict, jsstorage.Retries)
}

// plan builds the messages of ops from the keys' current entries, or
// returns nil when a lone operation would change nothing.
func (b *jsBackend) plan(ctx context.Context, stream jetstream.Stream, database string, ops []Op) ([]*nats.Msg, error) {
	nowT := b.now()
	now := strconv.FormatInt(nowT.UnixNano(), 10)
	states := map[string]*state{}
	msgs := make([]*nats.Msg, len(ops))
	for i, op := range ops {
		key := op.DeleteKey
		if op.Write != nil {
			key = op.Write.Key
		}
		k := recordKey(database, op.Table, key)
		st, seen := states[k]
		if !seen {
			s, err := b.current(ctx, stream, k, nowT)
			if err != nil {
				return nil, err
			}
			st = &s
			states[k] = st
		}
		if op.IfRevision != nil {
			if st.batched {
				// Its revision is the batch's, unknown until it commits;
				// only "absent" after a delete can be checked.
				if *op.IfRevision != 0 || st.live {
					return nil, &BatchFailed{Op: i, Err: &RevisionMismatch{Batched: true}}
				}
			} else if *op.IfRevision != st.revision() {
				return nil, &BatchFailed{Op: i, Err: &RevisionMismatch{Current: st.revision()}}
			}
		}
		m := &nats.Msg{Subject: jsstorage.Subject(Bucket, k), Header: nats.Header{}}
		if !seen {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(st.rev, 10))
		}
		prev := strconv.FormatInt(int64(st.rev), 10)
		if op.Write == nil {
			m.Header.Set("KV-Operation", "PURGE") // a marker JetStream does not mark again when it expires
			m.Header.Set(jetstream.MsgTTLHeader, deletedTTL.String())
			switch {
			case st.live && !st.batched:
				m.Header.Set(hdrChange, ChangeDelete)
				m.Header.Set(hdrPrevious, prev)
			case st.live:
				m.Header.Set(hdrChange, ChangeDelete)
			case st.expired && !st.batched:
				m.Header.Set(hdrChange, ChangeExpire)
				m.Header.Set(hdrPrevious, prev)
			default:
				if len(ops) == 1 {
					return nil, nil // deleting what is not there
				}
				// Kept in a batch: it holds the key to what was read.
				m.Header.Set(hdrChange, changeNone)
			}
			*st = state{batched: true}
			msgs[i] = m
			continue
		}
		r := op.Write
		created := now
		switch {
		case st.live && !st.created.IsZero():
			created = strconv.FormatInt(st.created.UnixNano(), 10)
			m.Header.Set(hdrChange, ChangeUpdate)
		case st.live:
			m.Header.Set(hdrChange, ChangeUpdate)
		case st.expired && !st.batched:
			m.Header.Set(hdrChange, changeExpireCreate)
			m.Header.Set(hdrPrevious, prev)
		default:
			m.Header.Set(hdrChange, ChangeCreate)
		}
		updated := now
		if op.keepTimes && !r.Created.IsZero() {
			created = strconv.FormatInt(r.Created.UnixNano(), 10)
			updated = strconv.FormatInt(r.Updated.UnixNano(), 10)
		}
		m.Header.Set(hdrCreated, created)
		m.Header.Set(hdrUpdated, updated)
		if !r.ExpiresAt.IsZero() {
			m.Header.Set(hdrExpires, strconv.FormatInt(r.ExpiresAt.UnixNano(), 10))
			// JetStream counts TTLs in whole seconds, at least one; reads
			// hide the record at its exact expiry.
			ttl := max(r.ExpiresAt.Sub(nowT), 0)
			m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(max((ttl+time.Second-1)/time.Second, 1)), 10)+"s")
		}
		if len(r.Metadata) > 0 {
			raw, err := json.Marshal(r.Metadata)
			if err != nil {
				return nil, err
			}
			m.Header.Set(hdrMetadata, base64.RawURLEncoding.EncodeToString(raw))
		}
		m.Data = r.Value
		created64, _ := strconv.ParseInt(created, 10, 64)
		*st = state{batched: true, live: true, created: time.Unix(0, created64)}
		msgs[i] = m
	}
	if max := b.js.Conn().MaxPayload(); max > 0 {
		for i, m := range msgs {
			if size := int64(len(m.Data)) + 4096; size > max {
				return nil, errors.BadRequest(errID, "operation %d: the value is %d bytes; this cluster carries at most %d per message (its max_payload)",
					i, len(m.Data), max-4096)
			}
		}
	}
	return msgs, nil
}

// errBatchBusy is JetStream refusing a batch for too many in flight.
var errBatchBusy = stderrors.New("too many batches in flight")

// publish stores msgs, all or none, and returns their revisions.
func (b *jsBackend) publish(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	if len(msgs) == 1 {
		ack, err := b.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return nil, jsstorage.Conflict(err)
		}
		return []uint64{ack.Sequence}, nil
	}
	nc := b.js.Conn()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	batchID := hex.EncodeToString(id)
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", batchID)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return nil, err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
	}
	rctx, cancel := ctx, func() {}
	if _, ok := ctx.Deadline(); !ok {
		rctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	}
	defer cancel()
	reply, err := nc.RequestMsgWithContext(rctx, msgs[len(msgs)-1])
	if err != nil {
		return nil, fmt.Errorf("store: batch: %w", err)
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Count int    `json:"count"`
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return nil, fmt.Errorf("store: batch: reading the acknowledgement: %w", err)
	}
	if ack.Error != nil {
		switch ack.Error.ErrCode {
		case int(jetstream.JSErrCodeStreamWrongLastSequence), int(jetstream.JSErrCodeStreamWrongLastSequenceConstant):
			return nil, fmt.Errorf("%w: %s", jsstorage.ErrConflict, ack.Error.Description)
		case errCodeAtomicTooManyInflight:
			return nil, fmt.Errorf("%w: %s", errBatchBusy, ack.Error.Description)
		}
		return nil, fmt.Errorf("store: batch refused: %s (%d)", ack.Error.Description, ack.Error.ErrCode)
	}
	if ack.Count != len(msgs) {
		return nil, fmt.Errorf("store: batch of %d stored as %d", len(msgs), ack.Count)
	}
	// An atomic batch is stored in one piece: consecutive sequences.
	revs := make([]uint64, len(msgs))
	for i := range revs {
		revs[i] = ack.Seq - uint64(len(msgs)-1-i)
	}
	return revs, nil
}

// errCodeAtomicTooManyInflight is JetStream's error code for an atomic
// batch refused because the stream has too many batches in flight.
const errCodeAtomicTooManyInflight = 10210

// Sweep does nothing: JetStream deletes expired records by their TTL.
func (b *jsBackend) Sweep(context.Context) (int64, error) { return 0, nil }

// NextExpiry is zero: nothing for the sweeper to wait for.
func (b *jsBackend) NextExpiry(context.Context) (time.Time, error) { return time.Time{}, nil }
