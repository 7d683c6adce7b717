package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testkit"
	tracepb "micro.dev/micro/proto/trace"
)

// TestFrameworkPlumbingMakesNoTraces: services heartbeating every 100ms
// (one traced, one not), exchanging tokens and fetching keys leave no
// trace of that in the file, while a user's call through the gateway is
// traced as before.
func TestFrameworkPlumbingMakesNoTraces(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := startTracingNode(t, Config{})
	for _, traced := range []bool{true, false} {
		name := map[bool]string{true: "beta", false: "plainbeta"}[traced]
		srv := service.New(service.Name(name), service.Proxy(n.ProxyAddr()), service.Logger(quiet), service.HandleSignal(false),
			service.Credentials("admin", "micro"), service.Tracing(traced),
			service.RegisterInterval(100*time.Millisecond), service.RegisterTTL(5*time.Second))
		if err := srv.Handle(&Beta{srv.Client()}); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
	}
	time.Sleep(time.Second) // ten heartbeats each

	// A user's call, with a token so the service fetches its keys.
	c, err := client.New(client.Options{Proxy: n.ProxyAddr(), ID: "admin", Secret: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.GatewayAddr()+"/beta/Beta/Call", strings.NewReader(`{"name":"Ada"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 200 {
		t.Fatalf("calling beta: %d", rsp.StatusCode)
	}
	id := strings.Split(rsp.Header.Get("traceparent"), "-")[1]

	// Spans are exported in order, so once the call's beta spans are in,
	// the heartbeats before them would be too.
	admin := adminTraceClient(t, n)
	var traces []*tracepb.Summary
	testkit.Eventually(t, 20*time.Second, "the user's call traced", func() bool {
		r, err := admin.Read(context.Background(), &tracepb.ReadRequest{TraceId: id})
		if err != nil {
			return false
		}
		services := map[string]bool{}
		for _, s := range r.GetSpans() {
			services[s.GetService()] = true
		}
		if !services["gateway"] || !services["beta"] {
			return false
		}
		l, err := admin.List(context.Background(), &tracepb.ListRequest{Limit: 1000})
		traces = l.GetTraces()
		return err == nil
	})
	if len(traces) == 0 {
		t.Fatal("no traces listed")
	}
	for _, tr := range traces {
		if tr.GetTraceId() == id {
			continue
		}
		t.Errorf("a trace the framework's plumbing made: %s %s %s (%d spans)", tr.GetTraceId(), tr.GetService(), tr.GetName(), tr.GetSpans())
	}
}
