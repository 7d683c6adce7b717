package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	debugpb "micro.dev/micro/proto/debug"
)

// TestDebug: every server answers Debug.Health and Debug.Stats, which count
// the service's calls and errors (panics included) but not their own, nor
// gRPC health checks; Debug is not among the registry's endpoints.
func TestDebug(t *testing.T) {
	conn := serve(t, new(Greeter))
	if out, err := callJSON(t, conn, "/greeter.Debug/Health", `{}`); err != nil || out != `{"status":"ok"}` {
		t.Fatalf("health: %s %v", out, err)
	}
	for _, name := range []string{"Jane", "fail", "panic", "forbidden", "Joe"} {
		callJSON(t, conn, "/greeter.Greeter/Hello", `{"name":"`+name+`"}`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	var st debugpb.StatsResponse
	if err := conn.Invoke(ctx, "/greeter.Debug/Stats", &debugpb.StatsRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 5 || st.Errors != 3 {
		t.Fatalf("requests %d errors %d, want 5 and 3", st.Requests, st.Errors)
	}
	if st.Memory == 0 || st.Threads == 0 || st.Started == 0 || st.Timestamp < st.Started {
		t.Fatalf("stats: %+v", &st)
	}

	s := New("greeter", nil)
	s.Handle(new(Greeter))
	s.mu.Lock()
	s.addDebug()
	s.mu.Unlock()
	for _, ep := range s.Endpoints() {
		if ep.Name == "Debug.Health" || ep.Name == "Debug.Stats" {
			t.Fatalf("%s is listed in the registry", ep.Name)
		}
	}
}
