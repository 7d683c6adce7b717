package runtime

import (
	"bytes"
	"context"
	stderrors "errors"
	"io"
	"math"
	"os"
	"regexp"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/blocks/runtime/source"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/runtime"
	"micro.dev/micro/schema"
)

const errID = "runtime"

// DefaultVersion is the version of a service that names none, as in Micro.
const DefaultVersion = "latest"

// uploadScheme prefixes the id of an uploaded source.
const uploadScheme = "source://"

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// reservedMetadata are the metadata keys the runtime sets itself.
var reservedMetadata = map[string]bool{
	"owner": true, "group": true, "started": true, "error": true, "build": true, "retries": true,
	"status": true, "lastStatusUpdate": true, "commit": true, nodeKey: true,
}

// Create builds and starts a service. It returns once the first build has
// finished: a compile error is the caller's answer (400, with the compiler's
// message), and the service stays, in status error, watching its source if
// asked to. Replacing a service that is running needs options.force.
func (r *Runtime) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateResponse, error) {
	o := req.GetOptions()
	ns := namespace(ctx, o.GetNamespace())
	if err := r.authorizeRun(ctx, ns); err != nil {
		return nil, err
	}
	in := req.GetResource().GetService()
	if in == nil {
		return nil, unsupportedResource(req.GetResource())
	}
	switch {
	case len(o.GetCommand()) > 0 || o.GetImage() != "":
		return nil, errors.BadRequest(errID, "custom commands and images are not supported: the runtime builds Go sources with go build")
	case o.GetInstances() > 1:
		return nil, errors.BadRequest(errID, "instances: one instance per service is supported")
	}
	if err := checkEnv(o.GetEnv()); err != nil {
		return nil, err
	}
	s, err := r.resolveSource(ctx, ns, in.GetName(), in.GetVersion(), in.GetSource(), o.GetEntrypoint())
	if err != nil {
		return nil, err
	}
	s.Env, s.Watch, s.Status = o.GetEnv(), o.GetWatch(), StatusPending
	s.Metadata = map[string]string{}
	for k, v := range in.GetMetadata() {
		if !reservedMetadata[k] {
			s.Metadata[k] = v
		}
	}
	s.Metadata["owner"], s.Metadata["group"] = caller(ctx)
	if r.cfg.Node != "" {
		s.Metadata[nodeKey] = r.cfg.Node
	}
	if s.Metadata["source"] == "" {
		s.Metadata["source"] = s.shownSource()
	}

	r.ops.Lock()
	if err := r.ready(); err != nil {
		r.ops.Unlock()
		return nil, err
	}
	if cur, ok, err := r.backend.GetService(ctx, s.Key); err != nil {
		r.ops.Unlock()
		return nil, r.failed(ctx, "create", err)
	} else if err := r.ownedHere(cur, "replace"); ok && err != nil {
		r.ops.Unlock()
		return nil, err
	} else if ok && active(cur.Status) && !o.GetForce() {
		r.ops.Unlock()
		return nil, errors.Conflict(errID, "service %s is already running; use --force to replace it, or micro update to rebuild it", s.Name)
	}
	if u := r.unit(s.Key); u != nil {
		u.stop()
		r.dropUnit(u)
	}
	if err := r.backend.PutService(ctx, s); err != nil {
		r.ops.Unlock()
		return nil, r.failed(ctx, "create", err)
	}
	r.logs.resume(s.Key)
	_, built := r.startUnit(s, true)
	r.ops.Unlock()
	return &pb.CreateResponse{}, r.waitBuild(ctx, built)
}

// Update fetches the service's source again (git pull, the newest upload,
// the directory as it is now), rebuilds it and swaps the new version in. A
// new source replaces the service's source.
func (r *Runtime) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	o := req.GetOptions()
	ns := namespace(ctx, o.GetNamespace())
	if err := r.authorizeRun(ctx, ns); err != nil {
		return nil, err
	}
	in := req.GetResource().GetService()
	if in == nil {
		return nil, unsupportedResource(req.GetResource())
	}
	k, err := serviceKey(ns, in.GetName(), in.GetVersion())
	if err != nil {
		return nil, err
	}
	r.ops.Lock()
	if err := r.ready(); err != nil {
		r.ops.Unlock()
		return nil, err
	}
	s, ok, err := r.backend.GetService(ctx, k)
	if err != nil {
		r.ops.Unlock()
		return nil, r.failed(ctx, "update", err)
	}
	if !ok {
		r.ops.Unlock()
		return nil, errors.NotFound(errID, "service not found")
	}
	if err := r.ownedHere(s, "update"); err != nil {
		r.ops.Unlock()
		return nil, err
	}
	replace := false
	if src := in.GetSource(); src != "" && src != s.Source {
		ns, err := r.resolveSource(ctx, k.Namespace, k.Name, k.Version, src, o.GetEntrypoint())
		if err != nil {
			r.ops.Unlock()
			return nil, err
		}
		s.Kind, s.Source, s.Ref, s.Entrypoint = ns.Kind, ns.Source, ns.Ref, ns.Entrypoint
		s.Metadata["source"] = ns.shownSource()
		replace = true
	} else if ep := o.GetEntrypoint(); ep != "" {
		if s.Entrypoint, err = cleanEntrypoint(ep); err != nil {
			r.ops.Unlock()
			return nil, err
		}
	}
	if err := r.backend.PutService(ctx, s); err != nil {
		r.ops.Unlock()
		return nil, r.failed(ctx, "update", err)
	}
	var built <-chan error
	u := r.unit(k)
	if u == nil || replace {
		// A new kind of source needs a new watcher and checkout: start over.
		if u != nil {
			u.stop()
			r.dropUnit(u)
		}
		_, built = r.startUnit(s, true)
	} else {
		u.setService(s)
		built = u.request(true)
	}
	r.ops.Unlock()
	return &pb.UpdateResponse{}, r.waitBuild(ctx, built)
}

// Delete stops a service's processes and removes it with its source and
// logs.
func (r *Runtime) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	ns := namespace(ctx, req.GetOptions().GetNamespace())
	if err := r.authorize(ctx, ns, true); err != nil {
		return nil, err
	}
	in := req.GetResource().GetService()
	if in == nil {
		return nil, unsupportedResource(req.GetResource())
	}
	k, err := serviceKey(ns, in.GetName(), in.GetVersion())
	if err != nil {
		return nil, err
	}
	r.ops.Lock()
	defer r.ops.Unlock()
	if err := r.ready(); err != nil {
		return nil, err
	}
	cur, ok, err := r.backend.GetService(ctx, k)
	if err != nil {
		return nil, r.failed(ctx, "delete", err)
	}
	if err := r.ownedHere(cur, "delete"); ok && err != nil {
		return nil, err
	}
	u := r.unit(k)
	if !ok && u == nil {
		return nil, errors.NotFound(errID, "service not found")
	}
	if u != nil {
		u.stop()
		r.dropUnit(u)
		os.RemoveAll(u.dir)
	}
	// Freeing: the service and its logs go even when the disk is full.
	err = r.logs.forget(k, func() error { return r.backend.DeleteService(schema.Freeing(context.WithoutCancel(ctx)), k) })
	if err != nil {
		return nil, r.failed(ctx, "delete", err)
	}
	return &pb.DeleteResponse{}, nil
}

// Read lists the services of the namespace, optionally only those of a name
// (and version).
func (r *Runtime) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	o := req.GetOptions()
	ns := namespace(ctx, o.GetNamespace())
	if err := r.authorize(ctx, ns, false); err != nil {
		return nil, err
	}
	svcs, err := r.backend.ListServices(ctx, ns)
	if err != nil {
		return nil, r.failed(ctx, "read", err)
	}
	rsp := &pb.ReadResponse{}
	for _, s := range svcs {
		if (o.GetService() != "" && s.Name != o.GetService()) || (o.GetVersion() != "" && s.Version != o.GetVersion()) {
			continue
		}
		md := make(map[string]string, len(s.Metadata)+2)
		for k, v := range s.Metadata {
			md[k] = v
		}
		md["status"] = s.Status.String()
		md["lastStatusUpdate"] = s.Updated.UTC().Format(time.RFC3339)
		rsp.Services = append(rsp.Services, &pb.Service{
			Name: s.Name, Version: s.Version, Source: s.Source, Metadata: md, Status: int32(s.Status),
		})
	}
	return rsp, nil
}

// followPoll is how often a follower checks that its service still exists
// while no lines arrive.
const followPoll = time.Second

// Logs sends a service's logs, oldest first: the newest count lines (all
// kept when 0), only those of the last since seconds when set; with stream,
// it then follows new lines until the caller goes or the service is killed.
func (r *Runtime) Logs(req *pb.LogsRequest, stream grpc.ServerStreamingServer[pb.LogRecord]) error {
	ctx := stream.Context()
	ns := namespace(ctx, req.GetOptions().GetNamespace())
	if err := r.authorize(ctx, ns, true); err != nil {
		return err
	}
	k, err := serviceKey(ns, req.GetService(), req.GetVersion())
	if err != nil {
		return err
	}
	if req.GetCount() < 0 || req.GetSince() < 0 {
		return errors.BadRequest(errID, "count and since must not be negative")
	}
	if _, ok, err := r.backend.GetService(ctx, k); err != nil {
		return r.failed(ctx, "logs", err)
	} else if !ok {
		return errors.NotFound(errID, "service not found")
	}
	q := LogQuery{Last: int(min(req.GetCount(), int64(r.cfg.LogLines)))}
	if s := req.GetSince(); s > 0 {
		// Longer than a Duration holds means "everything", not a wrap.
		s = min(s, math.MaxInt64/int64(time.Second))
		q.Since = r.cfg.Now().Add(-time.Duration(s) * time.Second)
	}
	var last int64
	send := func(lines []LogLine) error {
		for _, l := range lines {
			md := map[string]string{"stream": l.Stream}
			if l.Instance != "" {
				md["instance"] = l.Instance
			}
			if err := stream.Send(&pb.LogRecord{Timestamp: l.Time.Unix(), Metadata: md, Message: l.Message}); err != nil {
				return err
			}
			last = l.ID
		}
		return nil
	}
	lines, err := r.backend.ReadLogs(ctx, k, q)
	if err != nil {
		return r.failed(ctx, "logs", err)
	}
	if err := send(lines); err != nil || !req.GetStream() {
		return err
	}
	if last == 0 {
		// Nothing matched yet: follow from the newest line on.
		if tail, err := r.backend.ReadLogs(ctx, k, LogQuery{Last: 1}); err == nil && len(tail) == 1 {
			last = tail[0].ID
		}
	}
	for {
		changed := r.logs.changed(k)
		lines, err := r.backend.ReadLogs(ctx, k, LogQuery{AfterID: last})
		if err != nil {
			if ctx.Err() != nil || stderrors.Is(err, schema.ErrClosed) {
				return nil
			}
			return r.failed(ctx, "logs", err)
		}
		if err := send(lines); err != nil {
			return err
		}
		if len(lines) > 0 {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		case <-r.ctx.Done():
			return nil
		case <-time.After(followPoll):
			if _, ok, err := r.backend.GetService(ctx, k); err == nil && !ok {
				return nil
			}
		}
	}
}

// sourceServer is the runtime.Source service.
type sourceServer struct {
	pb.UnimplementedSourceServer
	r *Runtime
}

// Upload receives a source archive (tar.gz) in chunks; the first carries
// the service's name and version. The answer is the id to create the
// service with: source://name:version.
func (s *sourceServer) Upload(stream grpc.ClientStreamingServer[pb.UploadRequest, pb.UploadResponse]) error {
	r := s.r
	ctx := stream.Context()
	first, err := stream.Recv()
	if err == io.EOF {
		return errors.BadRequest(errID, "no upload: the first message must carry service{name, version} and data")
	}
	if err != nil {
		return err
	}
	ns := namespace(ctx, "")
	if err := r.authorizeRun(ctx, ns); err != nil {
		return err
	}
	svc := first.GetService()
	if svc.GetName() == "" {
		return errors.BadRequest(errID, "the first upload message must carry service{name, version}")
	}
	k, err := serviceKey(ns, svc.GetName(), svc.GetVersion())
	if err != nil {
		return err
	}
	limit := r.cfg.MaxSourceSize
	var buf bytes.Buffer
	buf.Write(first.GetData())
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if int64(buf.Len()+len(msg.GetData())) > limit {
			return errors.TooLarge(errID, "source archive is over %d MiB", limit>>20)
		}
		buf.Write(msg.GetData())
	}
	if int64(buf.Len()) > limit {
		return errors.TooLarge(errID, "source archive is over %d MiB", limit>>20)
	}
	if err := source.Unpack(bytes.NewReader(buf.Bytes()), "", 8*limit); err != nil {
		if stderrors.Is(err, source.ErrTooLarge) {
			return errors.TooLarge(errID, "%v", err)
		}
		return errors.BadRequest(errID, "%v", err)
	}
	if err := r.backend.PutSource(ctx, k, buf.Bytes()); err != nil {
		return r.failed(ctx, "upload", err)
	}
	return stream.SendAndClose(&pb.UploadResponse{Id: uploadScheme + k.Name + ":" + k.Version})
}

// active statuses are those of a service that is, or is about to be,
// running; replacing one needs force.
func active(s Status) bool {
	return s == StatusPending || s == StatusBuilding || s == StatusStarting || s == StatusRunning || s == StatusStopping
}

func unsupportedResource(res *pb.Resource) error {
	if res.GetNamespace() != nil || res.GetNetworkpolicy() != nil || res.GetResourcequota() != nil {
		return errors.NotImplemented(errID, "only service resources are supported; namespaces, network policies and resource quotas are not")
	}
	return errors.BadRequest(errID, "resource.service is required")
}

// namespace is explicit when given, else the call's namespace.
func namespace(ctx context.Context, explicit string) string {
	if explicit != "" {
		return explicit
	}
	return metadata.NamespaceFrom(ctx)
}

// caller returns the owner and group metadata of a service created in ctx:
// the caller's account name and issuer, or "micro" when the call carries no
// account.
func caller(ctx context.Context) (owner, group string) {
	if acc, ok := auth.AccountFromContext(ctx); ok {
		owner, group = acc.Name, acc.Issuer
		if owner == "" {
			owner = acc.ID
		}
	}
	if owner == "" {
		owner = metadata.DefaultNamespace
	}
	if group == "" {
		group = metadata.DefaultNamespace
	}
	return owner, group
}

func (r *Runtime) authorize(ctx context.Context, ns string, admin bool) error {
	return r.authz.Check(ctx, ns, admin)
}

// ready refuses changes before Start and after Close.
func (r *Runtime) ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errors.ServiceUnavailable(errID, "runtime is shutting down")
	case !r.started:
		return errors.ServiceUnavailable(errID, "runtime is starting")
	}
	return nil
}

// waitBuild waits for a build's outcome: a failure is the caller's (a
// compile error, a missing main package, a bad ref).
func (r *Runtime) waitBuild(ctx context.Context, built <-chan error) error {
	select {
	case err := <-built:
		if err != nil {
			return errors.BadRequest(errID, "%v", err)
		}
		return nil
	case <-ctx.Done():
		return errors.FromError(ctx.Err(), errID)
	}
}

// failed turns a backend error into the caller's answer.
func (r *Runtime) failed(ctx context.Context, op string, err error) error {
	return failure.Answer(ctx, r.log, errID, op, err)
}
