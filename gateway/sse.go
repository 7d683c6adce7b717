package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	stderrors "errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	eventspb "micro.dev/micro/proto/events"
)

// DefaultSSEHeartbeat is how often an idle event stream gets a comment line,
// so proxies and browsers keep the connection open.
const DefaultSSEHeartbeat = 15 * time.Second

// eventsTopic reports whether a request asks for a topic's events as
// server-sent events: GET /events/{topic}. A two-segment path would map to
// the events service's handler "Events", which does not exist, so the route
// takes nothing from callers.
func eventsTopic(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet {
		return "", false
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/events/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	topic, err := url.PathUnescape(rest)
	return topic, err == nil && topic != ""
}

func isEvents(r *http.Request) bool {
	_, ok := eventsTopic(r)
	return ok
}

// serveEvents streams a topic as server-sent events: each event is
// "id: <sequence>", "event: <topic>" and "data: <payload>" (the payload's
// JSON when it is JSON, else a JSON string of it). The query may say
// group, offset (unix seconds) or sequence to start at; a reconnecting
// client's Last-Event-ID header (or last_event_id query) resumes after
// that sequence number. A named group is durable and its saved position
// wins over any start. Events are consumed with auto_ack: what the server
// wrote counts as delivered.
//
// It calls events.Stream/Consume through the Router, as any call does.
func (g *Gateway) serveEvents(w http.ResponseWriter, r *http.Request) {
	topic, _ := eventsTopic(r)
	noteCall(r, "events", "Stream.Consume")
	req, err := consumeRequest(r, topic)
	if err != nil {
		g.fail(w, r, errors.FromError(err, apiID))
		return
	}
	ns, err := g.identify(r)
	if err != nil {
		g.fail(w, r, errors.FromError(err, apiID))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	md := g.callMetadata(r, ns)

	rctx, rcancel := context.WithTimeout(ctx, g.cfg.Timeout)
	route, err := g.cfg.Router.Route(rctx, ns, "events", "Stream.Consume")
	rcancel()
	if err == nil && route.Conn == nil {
		err = errors.InternalServerError(apiID, "router returned no connection for events Stream.Consume")
	}
	if err != nil {
		g.fail(w, r, errors.FromError(err, apiID))
		return
	}
	noteRouted(r, "events", ns)
	ctx = grpcmd.NewOutgoingContext(ctx, md)
	stream, err := route.Conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		client.FullMethod("events", "Stream.Consume"), grpc.CallContentSubtype(codec.Proto))
	if err == nil {
		err = stream.SendMsg(req)
	}
	if err == nil {
		// The events block sends headers once the subscription is
		// accepted, so a refused one still gets its HTTP status. A stream
		// that ended instead has no headers; RecvMsg tells how it ended.
		var hdr map[string][]string
		if hdr, err = stream.Header(); err == nil && hdr == nil {
			if err = stream.RecvMsg(new(eventspb.Event)); err == nil || err == io.EOF {
				err = errors.InternalServerError(apiID, "events ended the stream without accepting it")
			}
		}
	}
	if err != nil {
		g.fail(w, r, callError(err))
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := streamDeadlines(w)
	g.writeDeadline(rc)
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		g.writeDeadline(rc)
		if _, err := w.Write(b); err != nil {
			return false
		}
		err := rc.Flush()
		return err == nil || stderrors.Is(err, http.ErrNotSupported)
	}
	if !write([]byte(": subscribed to " + topic + "\n\n")) {
		return
	}

	type received struct {
		ev  *eventspb.Event
		err error
	}
	events := make(chan received)
	go func() {
		for {
			ev := new(eventspb.Event)
			err := stream.RecvMsg(ev)
			select {
			case events <- received{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	beat := g.cfg.SSEHeartbeat
	if beat <= 0 {
		beat = DefaultSSEHeartbeat
	}
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		case rcv := <-events:
			if rcv.err != nil {
				e := callError(rcv.err)
				logError(g.log, r, e)
				write([]byte("event: error\ndata: " + e.Error() + "\n\n"))
				return
			}
			if !write(sseEvent(rcv.ev)) {
				return
			}
		}
	}
}

// consumeRequest builds the subscription from the query and Last-Event-ID.
func consumeRequest(r *http.Request, topic string) (*eventspb.ConsumeRequest, error) {
	q := r.URL.Query()
	req := &eventspb.ConsumeRequest{Topic: topic, Group: q.Get("group"), AutoAck: true}
	var err error
	if v := q.Get("offset"); v != "" {
		if req.Offset, err = strconv.ParseInt(v, 10, 64); err != nil || req.Offset < 0 {
			return nil, badRequest("offset %q is not unix seconds", v)
		}
	}
	if v := q.Get("sequence"); v != "" {
		if req.Sequence, err = parseSequence(v); err != nil {
			return nil, badRequest("sequence %q is not a sequence number: give 1 to %d", v, uint64(math.MaxInt64))
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	if last != "" {
		seq, err := parseSequence(strings.TrimSpace(last))
		if err != nil || seq == math.MaxInt64 {
			// The next one would be past the last sequence number there can be.
			return nil, badRequest("Last-Event-ID %q is not the id of an event: give 0 to %d", last, uint64(math.MaxInt64-1))
		}
		// Resume after it, whatever start the query gave.
		req.Offset, req.Sequence = 0, seq+1
	}
	return req, nil
}

// parseSequence reads an event's sequence number. The events block numbers
// events as SQLite integers, so none is above math.MaxInt64; a larger one
// cannot name an event, and would wrap if carried further.
func parseSequence(v string) (uint64, error) {
	return strconv.ParseUint(v, 10, 63)
}

// sseEvent renders one event.
func sseEvent(ev *eventspb.Event) []byte {
	var b bytes.Buffer
	b.WriteString("id: " + strconv.FormatUint(ev.GetSequence(), 10) + "\n")
	b.WriteString("event: " + ev.GetTopic() + "\n")
	b.WriteString("data: ")
	var compact bytes.Buffer
	if json.Valid(ev.GetPayload()) && json.Compact(&compact, ev.GetPayload()) == nil {
		b.Write(compact.Bytes())
	} else {
		s, _ := json.Marshal(string(ev.GetPayload())) // a string always encodes
		b.Write(s)
	}
	b.WriteString("\n\n")
	return b.Bytes()
}
