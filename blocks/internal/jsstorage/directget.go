package jsstorage

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
