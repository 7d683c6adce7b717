package server

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	debugpb "micro.dev/micro/proto/debug"
)

// Debug is the handler every server adds (unless one named Debug is
// there already): Debug.Health and Debug.Stats, as Micro's services
// answer them, left out of the registry's endpoints.
type Debug struct {
	prefix   string // "/<service>.": the calls counted
	started  time.Time
	requests atomic.Uint64
	errors   atomic.Uint64
}

// addDebug adds the Debug handler unless the service has its own, and
// returns it; called by Serve with s.mu held.
func (s *GRPCServer) addDebug() *Debug {
	d := &Debug{prefix: "/" + s.name + ".", started: time.Now()}
	for _, h := range s.handlers {
		if h.name == "Debug" {
			return d
		}
	}
	if hd, err := newHandler(d, []HandlerOption{InternalHandler(true)}); err == nil {
		s.handlers = append(s.handlers, hd)
	}
	return d
}

// Health answers "ok" while the server serves.
func (d *Debug) Health(_ context.Context, _ *debugpb.HealthRequest, rsp *debugpb.HealthResponse) error {
	rsp.Status = "ok"
	return nil
}

// Stats reports uptime, memory, goroutines, GC and the calls served.
func (d *Debug) Stats(_ context.Context, _ *debugpb.StatsRequest, rsp *debugpb.StatsResponse) error {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	now := time.Now()
	rsp.Timestamp = uint64(now.Unix())
	rsp.Started = uint64(d.started.Unix())
	rsp.Uptime = uint64(now.Sub(d.started) / time.Second)
	rsp.Memory = m.HeapAlloc
	rsp.Threads = uint64(runtime.NumGoroutine())
	rsp.Gc = m.PauseTotalNs
	rsp.Requests = d.requests.Load()
	rsp.Errors = d.errors.Load()
	return nil
}

// count records a call's outcome; Debug's own calls are not counted, so a
// health check polling the service does not inflate them.
func (d *Debug) count(method string, err error) {
	if !strings.HasPrefix(method, d.prefix) || strings.HasPrefix(method, d.prefix+"Debug/") {
		return
	}
	d.requests.Add(1)
	if err != nil {
		d.errors.Add(1)
	}
}

func (d *Debug) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	rsp, err := h(ctx, req)
	d.count(info.FullMethod, err)
	return rsp, err
}

func (d *Debug) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	d.count(info.FullMethod, err)
	return err
}
