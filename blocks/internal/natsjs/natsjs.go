// Package natsjs binds the blocks' JetStream buckets and streams the same
// way everywhere: created or updated idempotently, and only handed back
// once they answer, because nodes of a cluster starting together race to
// create the same bucket and a just-created replicated stream has, for a
// moment, nobody answering reads.
package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
// it answers reads. Its stream is made here rather than by the client
// library, to turn direct gets off: reads are answered by the stream's
// leader, so a read through any node sees every write acknowledged before
// it, where a direct get may be answered by a replica a moment behind.
// The blocks' buckets hold what is written through one node and read
// through another at once (accounts, rules, config, services).
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	history := int64(max(cfg.History, 1))
	maxValue := cfg.MaxValueSize
	if maxValue == 0 {
		maxValue = -1
	}
	scfg := jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          cfg.MaxBytes,
		MaxMsgSize:        maxValue,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           cfg.Storage,
		Replicas:          cfg.Replicas,
		Discard:           jetstream.DiscardNew,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		AllowDirect:       false,
	}
	if _, err := retry(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, scfg)
	}); err != nil {
		return nil, err
	}
	kv, err := retry(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.KeyValue(ctx, cfg.Bucket)
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

// ObjectStore creates or updates the object store cfg describes and
// returns it once it answers.
func ObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	obs, err := retry(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return js.CreateOrUpdateObjectStore(ctx, cfg)
	})
	if err != nil {
		return nil, err
	}
	return obs, answers(ctx, func(ctx context.Context) error {
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

// Msg is a stored message as a direct get returns it.
type Msg struct {
	Subject string
	// Seq is its stream sequence.
	Seq    uint64
	Header nats.Header
	Data   []byte
}

// GetRequest selects messages for DirectGet: the last on LastBySubject,
// or from Seq on the first (Batch > 1: up to Batch) on NextBySubject.
type GetRequest struct {
	Seq           uint64 `json:"seq,omitempty"`
	LastBySubject string `json:"last_by_subj,omitempty"`
	NextBySubject string `json:"next_by_subj,omitempty"`
	Batch         int    `json:"batch,omitempty"`
}

// DirectGet asks stream for the messages req selects and hands each to fn
// until it returns false. Any replica answers (the stream must allow direct
// gets), so a read can be a moment behind a write made through another
// node; subjects may be wildcards, which the client library's own gets do
// not allow for the last message, and a batch is one round trip.
func DirectGet(ctx context.Context, nc *nats.Conn, stream string, req GetRequest, fn func(*Msg) bool) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	subject := "$JS.API.DIRECT.GET." + stream
	if req.Batch <= 1 {
		m, err := nc.RequestWithContext(ctx, subject, body)
		if err != nil {
			return err
		}
		s, err := msgOf(m)
		if err == nil && s != nil {
			fn(s)
		}
		return err
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, body); err != nil {
		return err
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		s, err := msgOf(m)
		if err != nil || s == nil {
			return err // the end of the batch, or nothing at all
		}
		if !fn(s) {
			return nil
		}
	}
}

// msgOf reads a direct get answer; nil for "no message" and for the end of
// a batch.
func msgOf(m *nats.Msg) (*Msg, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		switch m.Header.Get("Status") {
		case "404", "204":
			return nil, nil
		}
		return nil, fmt.Errorf("direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("direct get: sequence %q", m.Header.Get(jetstream.SequenceHeader))
	}
	return &Msg{Subject: m.Header.Get(jetstream.SubjectHeader), Seq: seq, Header: m.Header, Data: m.Data}, nil
}
