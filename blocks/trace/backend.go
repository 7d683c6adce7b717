package trace

import (
	"context"

	pb "micro.dev/micro/proto/trace"
)

// Backend is where spans persist. Limits and namespaces are the block's;
// the cap is the backend's, applied as spans arrive.
type Backend interface {
	// Record keeps spans in namespace ns, then drops ns's oldest spans
	// beyond the per-namespace cap and, beyond the total cap, the oldest
	// of the namespace holding the most: one namespace's spans never push
	// out another's that has fewer.
	Record(ctx context.Context, ns string, spans []*pb.Span) error
	// Read returns one trace's spans in ns by start time.
	Read(ctx context.Context, ns, traceID string) ([]*pb.Span, error)
	// List summarises the newest limit traces in ns, newest first; with
	// service set, only those with a span service recorded.
	List(ctx context.Context, ns, service string, limit int) ([]*pb.Summary, error)
}
