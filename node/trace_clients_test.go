package node

import (
	"context"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/config"
	"micro.dev/micro/framework/events"
	"micro.dev/micro/internal/testkit"
	tracepb "micro.dev/micro/proto/trace"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// Gamma reads config and publishes an event with its handler's context.
type Gamma struct{ c client.Client }

func (g *Gamma) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	v, err := config.NewConfig(g.c, config.WithContext(ctx)).Get("gamma.greeting")
	if err != nil {
		return err
	}
	rsp.Msg = v.String("Hello") + " " + req.Name
	return events.NewStream(g.c, events.WithContext(ctx)).Publish("greetings", map[string]string{"msg": rsp.Msg})
}

// TestConfigAndEventsJoinTheHandlersTrace: a handler's config read and
// event publish, made with its context, are client spans under the
// handler's server span, each followed by the proxy's span at the block.
func TestConfigAndEventsJoinTheHandlersTrace(t *testing.T) {
	n := startTracingNode(t, Config{})
	startTraced(t, n, "gamma", func(c client.Client) any { return &Gamma{c} })

	const traceID, callerSpan = "5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8"
	callAda(t, n, "/gamma/Gamma/Call", traceID, callerSpan)

	admin := adminTraceClient(t, n)
	find := func(spans []*tracepb.Span, service, name string) *tracepb.Span {
		for _, s := range spans {
			if s.GetService() == service && s.GetName() == name {
				return s
			}
		}
		return nil
	}
	var spans []*tracepb.Span
	testkit.Eventually(t, 20*time.Second, "the config and events spans kept", func() bool {
		r, err := admin.Read(context.Background(), &tracepb.ReadRequest{TraceId: traceID})
		if err != nil {
			return false
		}
		spans = r.GetSpans()
		return find(spans, "proxy", "config.Config/Get") != nil && find(spans, "proxy", "events.Stream/Publish") != nil &&
			find(spans, "gamma", "config/Config.Get") != nil && find(spans, "gamma", "events/Stream.Publish") != nil
	})
	handler := find(spans, "gamma", "gamma.Gamma/Call")
	if handler == nil {
		t.Fatalf("no span of gamma's handler in %v", spans)
	}
	for _, hop := range [][2]string{{"config/Config.Get", "config.Config/Get"}, {"events/Stream.Publish", "events.Stream/Publish"}} {
		call := find(spans, "gamma", hop[0])
		if call == nil || call.GetParentId() != handler.GetSpanId() {
			t.Fatalf("gamma's %s span %v is not a child of its handler's span %s; spans %v", hop[0], call, handler.GetSpanId(), spans)
		}
		at := find(spans, "proxy", hop[1])
		if at == nil || at.GetParentId() != call.GetSpanId() {
			t.Fatalf("the proxy's %s span %v is not a child of gamma's call %s", hop[1], at, call.GetSpanId())
		}
	}
}
