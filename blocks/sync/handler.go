package sync

import (
	"context"
	stderrors "errors"
	"time"

	"github.com/google/uuid"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/sync"
	"micro.dev/micro/schema"
)

const errID = "sync"

// maxNameSize bounds lease names and holders.
const maxNameSize = 255

// Acquire takes the lease on a name no live lease holds.
func (s *Sync) Acquire(ctx context.Context, req *pb.AcquireRequest) (*pb.Lease, error) {
	ns, err := s.scope(ctx, req.GetNamespace(), req.GetName())
	if err != nil {
		return nil, err
	}
	ttl, err := ttlOf(req.GetTtlMs(), DefaultTTL)
	if err != nil {
		return nil, err
	}
	if len(req.GetHolder()) > maxNameSize {
		return nil, errors.BadRequest(errID, "holder is %d bytes; the limit is %d", len(req.GetHolder()), maxNameSize)
	}
	l, err := s.backend.Acquire(ctx, ns, Lease{Name: req.GetName(), ID: uuid.NewString(), Holder: req.GetHolder(), TTL: ttl}, MaxLeases)
	var held *Held
	switch {
	case stderrors.As(err, &held):
		return nil, errors.Conflict(errID, "lease %q is held by %q for another %s", req.GetName(), held.Holder,
			max(held.Expires.Sub(s.now()), 0).Round(time.Millisecond))
	case stderrors.Is(err, ErrTooMany):
		return nil, errors.TooManyRequests(errID, "namespace %s holds %d leases, the limit; release some", ns, MaxLeases)
	case err != nil:
		return nil, failure.Answer(ctx, s.log, errID, "acquire", err)
	}
	return toProto(l, true), nil
}

// Renew extends a lease still held by its TTL from now.
func (s *Sync) Renew(ctx context.Context, req *pb.RenewRequest) (*pb.Lease, error) {
	ns, err := s.scope(ctx, req.GetNamespace(), req.GetName())
	if err != nil {
		return nil, err
	}
	ttl, err := ttlOf(req.GetTtlMs(), 0)
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, errors.BadRequest(errID, "id is required: the id Acquire returned")
	}
	l, err := s.backend.Renew(ctx, ns, req.GetName(), req.GetId(), ttl)
	switch {
	case stderrors.Is(err, ErrLost):
		return nil, errors.NotFound(errID, "lease %q with this id is no longer held: it ran out or was released", req.GetName())
	case err != nil:
		return nil, failure.Answer(ctx, s.log, errID, "renew", err)
	}
	return toProto(l, true), nil
}

// Release gives a lease up.
func (s *Sync) Release(ctx context.Context, req *pb.ReleaseRequest) (*pb.ReleaseResponse, error) {
	ns, err := s.scope(ctx, req.GetNamespace(), req.GetName())
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, errors.BadRequest(errID, "id is required: the id Acquire returned")
	}
	if err := s.backend.Release(schema.Freeing(ctx), ns, req.GetName(), req.GetId()); err != nil {
		return nil, failure.Answer(ctx, s.log, errID, "release", err)
	}
	return &pb.ReleaseResponse{}, nil
}

// Leases lists a namespace's live leases, without their ids.
func (s *Sync) Leases(ctx context.Context, req *pb.LeasesRequest) (*pb.LeasesResponse, error) {
	ns, err := s.namespace(ctx, req.GetNamespace())
	if err != nil {
		return nil, err
	}
	ls, err := s.backend.Leases(ctx, ns)
	if err != nil {
		return nil, failure.Answer(ctx, s.log, errID, "leases", err)
	}
	rsp := &pb.LeasesResponse{Leases: make([]*pb.Lease, len(ls))}
	for i, l := range ls {
		rsp.Leases[i] = toProto(l, false)
	}
	return rsp, nil
}

// scope defaults the namespace to the caller's and checks that the caller
// administers it (an admin, or a service account of it, as for the
// store), then checks the lease's name.
func (s *Sync) scope(ctx context.Context, ns, name string) (string, error) {
	ns, err := s.namespace(ctx, ns)
	if err != nil {
		return "", err
	}
	switch {
	case name == "":
		return "", errors.BadRequest(errID, "name is required")
	case len(name) > maxNameSize:
		return "", errors.BadRequest(errID, "name is %d bytes; the limit is %d", len(name), maxNameSize)
	}
	return ns, nil
}

// namespace defaults ns to the caller's and checks that the caller
// administers it.
func (s *Sync) namespace(ctx context.Context, ns string) (string, error) {
	if ns == "" {
		ns = metadata.NamespaceFrom(ctx)
	}
	if err := s.authz.Check(ctx, ns, true); err != nil {
		return "", err
	}
	return ns, nil
}

// ttlOf reads a TTL in milliseconds; 0 is def.
func ttlOf(ms int64, def time.Duration) (time.Duration, error) {
	if ms == 0 {
		return def, nil
	}
	if ms < MinTTL.Milliseconds() || ms > MaxTTL.Milliseconds() {
		return 0, errors.BadRequest(errID, "ttl_ms is %d; give %d to %d (0: the default)", ms, MinTTL.Milliseconds(), MaxTTL.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func toProto(l Lease, withID bool) *pb.Lease {
	out := &pb.Lease{Name: l.Name, Token: l.Token, TtlMs: l.TTL.Milliseconds(), Holder: l.Holder, Expires: l.Expires.UnixMilli()}
	if withID {
		out.Id = l.ID
	}
	return out
}
