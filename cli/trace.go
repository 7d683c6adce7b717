package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/node"
	pb "micro.dev/micro/proto/trace"
)

// serverTraceFlags are the server's flags about tracing.
func serverTraceFlags(fs *flag.FlagSet, cfg *node.Config) {
	fs.BoolVar(&cfg.Trace, "trace", true, "record spans of calls through the gateway, proxy and services run here into the database (micro trace, micro traces); false does no tracing work")
	fs.IntVar(&cfg.TraceSpans, "trace-spans", 100000, "how many spans the database keeps; the oldest are dropped")
	fs.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "also export spans to an OpenTelemetry collector at this `host:port` (OTLP over gRPC)")
}

// traceCommand is `micro trace <id>`: one trace as a waterfall.
func (a *app) traceCommand() *ffcli.Command {
	const path = "micro trace"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	ns := fs.String("namespace", "", "the trace's namespace; default the current one")
	return a.leaf("trace", path+" [flags] <trace-id>", "Show the spans of one trace as a waterfall, with durations", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "expected one trace id (from micro traces, or a response's traceparent header)")
			}
			id := args[0]
			if parts := strings.Split(id, "-"); len(parts) == 4 { // a whole traceparent
				id = parts[1]
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := pb.NewTraceClient(cl.conn).Read(ctx, &pb.ReadRequest{Namespace: *ns, TraceId: strings.ToLower(id)})
				if err != nil {
					return err
				}
				waterfall(a.stdout, rsp.GetSpans())
				return nil
			})
		})
}

// tracesCommand is `micro traces`: the newest traces.
func (a *app) tracesCommand() *ffcli.Command {
	const path = "micro traces"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	ns := fs.String("namespace", "", "the traces' namespace; default the current one")
	service := fs.String("service", "", "only traces with a span of this `service` (gateway, proxy, router, or a service's name)")
	limit := fs.Int("limit", 20, "how many traces, newest first (at most 1000)")
	return a.leaf("traces", path+" [flags]", "List recent traces, newest first", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 0 {
				return usageErrorf(path, "takes no arguments; filter with --service")
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := pb.NewTraceClient(cl.conn).List(ctx, &pb.ListRequest{Namespace: *ns, Service: *service, Limit: int32(*limit)})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TRACE\tSTARTED\tDURATION\tSPANS\tROOT")
				for _, t := range rsp.GetTraces() {
					root := t.GetService() + " " + t.GetName()
					if t.GetFailed() {
						root += "  (failed)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.GetTraceId(), time.Unix(0, t.GetStart()).Format(time.DateTime),
						duration(t.GetDurationNs()), t.GetSpans(), root)
				}
				return tw.Flush()
			})
		})
}

// waterfall prints spans as a tree, children under their parent by start
// time, each with its start offset, its duration, a bar on the trace's
// timeline, and its error.
func waterfall(w io.Writer, spans []*pb.Span) {
	if len(spans) == 0 {
		return
	}
	byID := map[string]bool{}
	children := map[string][]*pb.Span{}
	start, end := spans[0].GetStart(), spans[0].GetEnd()
	for _, s := range spans {
		byID[s.GetSpanId()] = true
		start, end = min(start, s.GetStart()), max(end, s.GetEnd())
	}
	var roots []*pb.Span
	for _, s := range spans {
		if s.GetParentId() == "" || !byID[s.GetParentId()] {
			roots = append(roots, s)
		} else {
			children[s.GetParentId()] = append(children[s.GetParentId()], s)
		}
	}
	byStart := func(ss []*pb.Span) {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].GetStart() < ss[j].GetStart() })
	}
	byStart(roots)
	total := max(end-start, 1)
	fmt.Fprintf(w, "trace %s: %d spans, %s\n", spans[0].GetTraceId(), len(spans), duration(end-start))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	const width = 30
	var walk func(s *pb.Span, depth int)
	walk = func(s *pb.Span, depth int) {
		from := int((s.GetStart() - start) * width / total)
		n := max(int((s.GetEnd()-s.GetStart())*width/total), 1)
		bar := strings.Repeat(" ", min(from, width-1)) + strings.Repeat("█", min(n, width-min(from, width-1)))
		line := fmt.Sprintf("%s\t%s\t%-*s\t%s%s [%s]", duration(s.GetStart()-start), duration(s.GetEnd()-s.GetStart()),
			width, bar, strings.Repeat("  ", depth), s.GetName(), s.GetService())
		if s.GetFailed() {
			line += "  error: " + s.GetError()
		}
		fmt.Fprintln(tw, line)
		kids := children[s.GetSpanId()]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	fmt.Fprintln(tw, "START\tDURATION\t\tSPAN")
	for _, r := range roots {
		walk(r, 0)
	}
	tw.Flush()
}

// duration prints nanoseconds to a tenth of a millisecond, or in
// microseconds below one.
func duration(ns int64) string {
	d := time.Duration(ns)
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
