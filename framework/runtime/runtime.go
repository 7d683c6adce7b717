// Package runtime is the runtime block's client for services, Micro's
// runtime package: run, read, update and kill services and read their
// logs, in the service's namespace unless an option names another.
//
//	svc, _ := runtime.NewService("helloworld", "latest")
//	svc.Source = "github.com/micro/services/helloworld"
//	err := runtime.Create(svc)
//	services, err := runtime.Read(runtime.ReadService("helloworld"))
//	logs, err := runtime.Logs(svc, runtime.LogsCount(100))
//
// The runtime block decides who may: reading is open to any account of the
// namespace, the rest to its administrators (a service's own account
// administers its namespace). Its answers come back as micro errors: a
// refusal is a 401 or 403, a service that does not exist a 404.
package runtime

import (
	"context"
	"io"
	"sync"

	"micro.dev/micro/framework/client"
	pb "micro.dev/micro/proto/runtime"
)

// Runtime runs services.
type Runtime interface {
	Create(Resource, ...CreateOption) error
	Read(...ReadOption) ([]*Service, error)
	Update(Resource, ...UpdateOption) error
	Delete(Resource, ...DeleteOption) error
	Logs(Resource, ...LogsOption) (LogStream, error)
}

// LogStream is a service's log records as they come.
type LogStream interface {
	// Error is why the stream ended, once Chan is closed; nil at its end.
	Error() error
	Chan() chan Log
	Stop() error
}

// Log is one log record.
type Log struct {
	Message  string
	Metadata map[string]string
}

type rpcRuntime struct{ c client.Client }

// NewRuntime returns a Runtime calling the runtime block through c.
func NewRuntime(c client.Client) Runtime { return &rpcRuntime{c: c} }

func (r *rpcRuntime) call(ctx context.Context, endpoint string, req, rsp any) error {
	return r.c.Call(ctx, r.c.NewRequest("runtime", endpoint, req), rsp)
}

func (r *rpcRuntime) ns(ns string) string {
	if ns == "" {
		return client.NamespaceOf(r.c)
	}
	return ns
}

func (r *rpcRuntime) Create(res Resource, opts ...CreateOption) error {
	o := CreateOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	in, err := toProto(res)
	if err != nil {
		return err
	}
	req := &pb.CreateRequest{Resource: in, Options: &pb.CreateOptions{
		Command: o.Command, Args: o.Args, Env: o.Env, Type: o.Type, Image: o.Image, Namespace: r.ns(o.Namespace),
		Secrets: o.Secrets, Entrypoint: o.Entrypoint, Volumes: o.Volumes, Instances: int64(o.Instances), Force: o.Force,
	}}
	return r.call(o.Context, "Runtime.Create", req, new(pb.CreateResponse))
}

func (r *rpcRuntime) Read(opts ...ReadOption) ([]*Service, error) {
	o := ReadOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	rsp := new(pb.ReadResponse)
	req := &pb.ReadRequest{Options: &pb.ReadOptions{Service: o.Service, Version: o.Version, Type: o.Type, Namespace: r.ns(o.Namespace)}}
	if err := r.call(o.Context, "Runtime.Read", req, rsp); err != nil {
		return nil, err
	}
	out := make([]*Service, 0, len(rsp.GetServices()))
	for _, s := range rsp.GetServices() {
		out = append(out, &Service{Name: s.GetName(), Version: s.GetVersion(), Source: s.GetSource(),
			Metadata: s.GetMetadata(), Status: ServiceStatus(s.GetStatus())})
	}
	return out, nil
}

func (r *rpcRuntime) Update(res Resource, opts ...UpdateOption) error {
	o := UpdateOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	in, err := toProto(res)
	if err != nil {
		return err
	}
	req := &pb.UpdateRequest{Resource: in, Options: &pb.UpdateOptions{Namespace: r.ns(o.Namespace),
		Entrypoint: o.Entrypoint, Instances: int64(o.Instances)}}
	return r.call(o.Context, "Runtime.Update", req, new(pb.UpdateResponse))
}

func (r *rpcRuntime) Delete(res Resource, opts ...DeleteOption) error {
	o := DeleteOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	in, err := toProto(res)
	if err != nil {
		return err
	}
	req := &pb.DeleteRequest{Resource: in, Options: &pb.DeleteOptions{Namespace: r.ns(o.Namespace)}}
	return r.call(o.Context, "Runtime.Delete", req, new(pb.DeleteResponse))
}

// Logs reads the logs of a service: the newest LogsCount records (all the
// runtime keeps when 0), then, with LogsStream(true), new ones until Stop.
// As in Micro, a refusal or a missing service shows as the stream's Error
// once its channel closes.
func (r *rpcRuntime) Logs(res Resource, opts ...LogsOption) (LogStream, error) {
	o := LogsOptions{Context: context.Background()}
	for _, opt := range opts {
		opt(&o)
	}
	svc, ok := res.(*Service)
	if !ok || svc == nil || svc.Name == "" {
		return nil, ErrInvalidResource
	}
	req := &pb.LogsRequest{Service: svc.Name, Version: svc.Version, Stream: o.Stream, Count: o.Count,
		Options: &pb.LogsOptions{Namespace: r.ns(o.Namespace)}}
	ctx, cancel := context.WithCancel(o.Context)
	st, err := r.c.Stream(ctx, r.c.NewRequest("runtime", "Runtime.Logs", req))
	if err != nil {
		cancel()
		return nil, err
	}
	if err := st.Send(req); err != nil && err != io.EOF {
		cancel()
		st.Close()
		return nil, err
	}
	st.CloseSend()
	ls := &logStream{ch: make(chan Log), ctx: ctx, cancel: cancel}
	go ls.pump(st)
	return ls, nil
}

type logStream struct {
	ch     chan Log
	ctx    context.Context
	cancel context.CancelFunc

	mu  sync.Mutex
	err error
}

func (l *logStream) pump(st client.Stream) {
	defer close(l.ch)
	defer st.Close()
	for {
		rec := new(pb.LogRecord)
		if err := st.Recv(rec); err != nil {
			if err != io.EOF && l.ctx.Err() == nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
			}
			return
		}
		select {
		case l.ch <- Log{Message: rec.GetMessage(), Metadata: rec.GetMetadata()}:
		case <-l.ctx.Done():
			return
		}
	}
}

func (l *logStream) Chan() chan Log { return l.ch }

func (l *logStream) Error() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *logStream) Stop() error {
	l.cancel()
	return nil
}

// Default returns a Runtime over the service's client.
func Default() (Runtime, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewRuntime(c), nil
}

// Create runs a resource (see Runtime).
func Create(res Resource, opts ...CreateOption) error {
	r, err := Default()
	if err != nil {
		return err
	}
	return r.Create(res, opts...)
}

// Read lists services.
func Read(opts ...ReadOption) ([]*Service, error) {
	r, err := Default()
	if err != nil {
		return nil, err
	}
	return r.Read(opts...)
}

// Update rebuilds a service from its source and swaps it in.
func Update(res Resource, opts ...UpdateOption) error {
	r, err := Default()
	if err != nil {
		return err
	}
	return r.Update(res, opts...)
}

// Delete stops a service and forgets it.
func Delete(res Resource, opts ...DeleteOption) error {
	r, err := Default()
	if err != nil {
		return err
	}
	return r.Delete(res, opts...)
}

// Logs reads a service's logs.
func Logs(res Resource, opts ...LogsOption) (LogStream, error) {
	r, err := Default()
	if err != nil {
		return nil, err
	}
	return r.Logs(res, opts...)
}
