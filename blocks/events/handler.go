package events

import (
	"context"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/events"
)

// Limits on requests; a request over them gets a 400.
const (
	// MaxTopicSize is the longest topic name, in bytes.
	MaxTopicSize = 255
	// MaxPayloadSize is the largest payload, in bytes.
	MaxPayloadSize = 16 << 20
	// DefaultReadLimit is how many events Read returns unless told, as in
	// Micro.
	DefaultReadLimit = 250
	// MaxReadLimit is the most events one Read returns.
	MaxReadLimit = 10000
	// MaxRetention is the longest retention a topic may be given.
	MaxRetention = 100 * 365 * 24 * time.Hour
)

// DeadSuffix names a topic's dead-letter topic: "orders" -> "orders.dead".
const DeadSuffix = ".dead"

const errID = "events"

type streamServer struct {
	pb.UnimplementedStreamServer
	e *Events
}

type storeServer struct {
	pb.UnimplementedStoreServer
	e *Events
}

type topicsServer struct {
	pb.UnimplementedTopicsServer
	e *Events
}

// Publish stores an event and answers once it is committed: an answered
// publish survives a crash. Timestamp (unix seconds) defaults to now.
func (s streamServer) Publish(ctx context.Context, req *pb.PublishRequest) (*pb.PublishResponse, error) {
	e := s.e
	ns, err := e.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	if n := len(req.GetPayload()); n > MaxPayloadSize {
		return nil, errors.BadRequest(errID, "payload is %d bytes; the limit is %d", n, MaxPayloadSize)
	}
	ts := req.GetTimestamp()
	if ts == 0 {
		ts = e.now().Unix()
	}
	ev := Event{ID: uuid.NewString(), Metadata: req.GetMetadata(), Payload: req.GetPayload(), Timestamp: ts}
	evs, err := e.backend.Append(ctx, ns, req.GetTopic(), []Event{ev})
	if err != nil {
		return nil, e.failed(ctx, "publish", err)
	}
	e.hub.notify(topicKey{ns, req.GetTopic()})
	return &pb.PublishResponse{Id: evs[0].ID, Sequence: evs[0].Seq}, nil
}

// Consume is in consume.go.

// Read returns a topic's retained events in sequence order: limit of them
// (DefaultReadLimit unless told) after skipping offset.
func (s storeServer) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	e := s.e
	ns, err := e.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	limit := req.GetLimit()
	switch {
	case limit == 0:
		limit = DefaultReadLimit
	case limit > MaxReadLimit:
		return nil, errors.BadRequest(errID, "limit is %d; the most one read returns is %d", limit, MaxReadLimit)
	}
	if req.GetOffset() > math.MaxInt32 {
		return nil, errors.BadRequest(errID, "offset %d is too large", req.GetOffset())
	}
	k := topicKey{ns, req.GetTopic()}
	nb, err := e.notBefore(ctx, k)
	if err != nil {
		return nil, e.failed(ctx, "read", err)
	}
	evs, err := e.backend.Read(ctx, ns, k.topic, Query{From: 1, NotBefore: nb, Limit: int(limit), Offset: int(req.GetOffset())})
	if err != nil {
		return nil, e.failed(ctx, "read", err)
	}
	rsp := &pb.ReadResponse{Events: make([]*pb.Event, len(evs))}
	for i := range evs {
		rsp.Events[i] = toProto(&evs[i])
	}
	return rsp, nil
}

// Write is not supported, as in Micro: events are stored by Publish.
func (s storeServer) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	if _, err := s.e.scope(ctx); err != nil {
		return nil, err
	}
	return nil, errors.NotImplemented(errID, "events are stored by Stream.Publish; Store.Write is not supported")
}

// List describes the caller's namespace's topics.
func (s topicsServer) List(ctx context.Context, _ *pb.ListTopicsRequest) (*pb.ListTopicsResponse, error) {
	e := s.e
	ns, err := e.scope(ctx)
	if err != nil {
		return nil, err
	}
	topics, err := e.backend.Topics(ctx, ns)
	if err != nil {
		return nil, e.failed(ctx, "list topics", err)
	}
	rsp := &pb.ListTopicsResponse{Topics: make([]*pb.Topic, len(topics))}
	for i, t := range topics {
		rsp.Topics[i] = e.topicProto(t)
	}
	return rsp, nil
}

// Update sets how long a topic keeps its events (seconds; 0 returns to the
// server's default). A shorter retention hides older events at once.
func (s topicsServer) Update(ctx context.Context, req *pb.UpdateTopicRequest) (*pb.UpdateTopicResponse, error) {
	e := s.e
	ns, err := e.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(req.GetTopic()); err != nil {
		return nil, err
	}
	r := req.GetRetention()
	if r < 0 || r > int64(MaxRetention/time.Second) {
		return nil, errors.BadRequest(errID, "retention is %d; give seconds from 1 to %d, or 0 for the server's default", r, int64(MaxRetention/time.Second))
	}
	k := topicKey{ns, req.GetTopic()}
	if err := e.backend.SetRetention(ctx, ns, k.topic, time.Duration(r)*time.Second); err != nil {
		return nil, e.failed(ctx, "update topic", err)
	}
	e.retMu.Lock()
	delete(e.retentions, k)
	e.retMu.Unlock()
	topics, err := e.backend.Topics(ctx, ns)
	if err != nil {
		return nil, e.failed(ctx, "update topic", err)
	}
	for _, t := range topics {
		if t.Name == k.topic {
			return &pb.UpdateTopicResponse{Topic: e.topicProto(t)}, nil
		}
	}
	return nil, errors.InternalServerError(errID, "topic %s vanished", k.topic)
}

func (e *Events) topicProto(t TopicInfo) *pb.Topic {
	r := t.Retention
	if r <= 0 {
		r = e.retention
	}
	return &pb.Topic{
		Name: t.Name, FirstSequence: t.First, LastSequence: t.Last,
		Retention: int64(r / time.Second), RetentionSet: t.Retention > 0, Groups: t.Groups,
	}
}

// scope checks the caller may act on its namespace and returns it. Events
// are per namespace; Micro kept one global stream for admins of "micro",
// which is what a caller of that namespace sees here.
func (e *Events) scope(ctx context.Context) (string, error) {
	ns := metadata.NamespaceFrom(ctx)
	if err := e.authz.Check(ctx, ns, true); err != nil {
		return "", errors.FromError(err, errID)
	}
	return ns, nil
}

// checkTopic validates a topic name: required, bounded, printable, no
// spaces.
func checkTopic(topic string) error {
	if topic == "" {
		return errors.BadRequest(errID, "topic is required")
	}
	if len(topic) > MaxTopicSize {
		return errors.BadRequest(errID, "topic is %d bytes; the limit is %d", len(topic), MaxTopicSize)
	}
	if i := strings.IndexFunc(topic, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return errors.BadRequest(errID, "topic %q has a space or control character at byte %d", topic, i)
	}
	return nil
}

func toProto(ev *Event) *pb.Event {
	return &pb.Event{
		Id: ev.ID, Topic: ev.Topic, Metadata: ev.Metadata, Payload: ev.Payload,
		Timestamp: ev.Timestamp, Sequence: ev.Seq,
	}
}

var errShuttingDown = errors.ServiceUnavailable(errID, "events is shutting down")

// failed turns a backend error into the caller's answer: a shutdown is a
// 503, an ended call keeps its own code, anything else is logged and a 500.
func (e *Events) failed(ctx context.Context, op string, err error) error {
	return failure.Answer(ctx, e.log, errID, op, err)
}

// serverStream is the Consume stream as the handler uses it.
type serverStream = grpc.BidiStreamingServer[pb.ConsumeRequest, pb.Event]
