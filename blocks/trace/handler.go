package trace

import (
	"context"
	"regexp"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/trace"
)

const errID = "trace"

var (
	traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spanID  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// Record keeps a batch of a namespace's finished spans.
func (t *Trace) Record(ctx context.Context, req *pb.RecordRequest) (*pb.RecordResponse, error) {
	ns, err := t.namespace(ctx, req.GetNamespace())
	if err != nil {
		return nil, err
	}
	spans := req.GetSpans()
	if len(spans) > MaxRecord {
		return nil, errors.BadRequest(errID, "%d spans in one record; the limit is %d", len(spans), MaxRecord)
	}
	for i, s := range spans {
		if err := check(s); err != nil {
			return nil, errors.BadRequest(errID, "span %d: %s", i, err)
		}
	}
	if len(spans) == 0 {
		return &pb.RecordResponse{}, nil
	}
	if err := t.backend.Record(ctx, ns, spans); err != nil {
		return nil, failure.Answer(ctx, t.log, errID, "record", err)
	}
	return &pb.RecordResponse{}, nil
}

// check refuses a span with ids that are not W3C's or fields too big.
func check(s *pb.Span) error {
	switch {
	case !traceID.MatchString(s.GetTraceId()):
		return errors.BadRequest(errID, "trace_id %q is not 32 lowercase hex characters", short(s.GetTraceId()))
	case !spanID.MatchString(s.GetSpanId()):
		return errors.BadRequest(errID, "span_id %q is not 16 lowercase hex characters", short(s.GetSpanId()))
	case s.GetParentId() != "" && !spanID.MatchString(s.GetParentId()):
		return errors.BadRequest(errID, "parent_id %q is not 16 lowercase hex characters", short(s.GetParentId()))
	case s.GetEnd() < s.GetStart():
		return errors.BadRequest(errID, "end is before start")
	case len(s.GetAttributes()) > maxAttrs:
		return errors.BadRequest(errID, "%d attributes; the limit is %d", len(s.GetAttributes()), maxAttrs)
	}
	for _, f := range []string{s.GetService(), s.GetName(), s.GetKind(), s.GetError()} {
		if len(f) > maxField {
			return errors.BadRequest(errID, "a field is %d bytes; the limit is %d", len(f), maxField)
		}
	}
	for k, v := range s.GetAttributes() {
		if len(k)+len(v) > maxField {
			return errors.BadRequest(errID, "attribute %q is %d bytes; the limit is %d", short(k), len(k)+len(v), maxField)
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Read returns one trace's spans by start time; a trace with none is a 404.
func (t *Trace) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	ns, err := t.namespace(ctx, req.GetNamespace())
	if err != nil {
		return nil, err
	}
	if !traceID.MatchString(req.GetTraceId()) {
		return nil, errors.BadRequest(errID, "trace id %q is not 32 lowercase hex characters", short(req.GetTraceId()))
	}
	spans, err := t.backend.Read(ctx, ns, req.GetTraceId())
	if err != nil {
		return nil, failure.Answer(ctx, t.log, errID, "read", err)
	}
	if len(spans) == 0 {
		return nil, errors.NotFound(errID, "no spans of trace %s in namespace %s (spans are kept for a while, then dropped)", req.GetTraceId(), ns)
	}
	return &pb.ReadResponse{Spans: spans}, nil
}

// List summarises the newest traces, newest first.
func (t *Trace) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	ns, err := t.namespace(ctx, req.GetNamespace())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = defaultList
	case limit < 0 || limit > maxList:
		return nil, errors.BadRequest(errID, "limit is %d; give 1 to %d (0: %d)", limit, maxList, defaultList)
	}
	sums, err := t.backend.List(ctx, ns, req.GetService(), limit)
	if err != nil {
		return nil, failure.Answer(ctx, t.log, errID, "list", err)
	}
	return &pb.ListResponse{Traces: sums}, nil
}

// namespace defaults ns to the caller's and checks that the caller
// administers it (an admin, or a service account of it).
func (t *Trace) namespace(ctx context.Context, ns string) (string, error) {
	if ns == "" {
		ns = metadata.NamespaceFrom(ctx)
	}
	if err := t.authz.Check(ctx, ns, true); err != nil {
		return "", err
	}
	return ns, nil
}
