package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/protobuf/encoding/protojson"

	microclient "micro.dev/micro/framework/client"
	debugpb "micro.dev/micro/proto/debug"
)

// healthCommand is Micro's `micro health <service>`: the service's
// Debug.Health, through the proxy.
func (a *app) healthCommand() *ffcli.Command {
	const path = "micro health"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("health", path+" <service>", "Check that a service answers (its Debug.Health)", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "expected one service name")
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				var rsp debugpb.HealthResponse
				if err := invokeDebug(ctx, cl, args[0], "Debug.Health", &rsp); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s\t%s\n", args[0], rsp.GetStatus())
				if rsp.GetStatus() != "ok" {
					return exitf(exitFailure, "%s is not healthy: %s", args[0], rsp.GetStatus())
				}
				return nil
			})
		})
}

// statsCommand is Micro's `micro stats <service...>`: each service's
// Debug.Stats, one line each.
func (a *app) statsCommand() *ffcli.Command {
	const path = "micro stats"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	output := fs.String("output", "table", "table, or json (one object per service)")
	return a.leaf("stats", path+" [flags] <service> [<service> ...]",
		"Show services' uptime, memory, goroutines, GC pause and calls served (their Debug.Stats)", fs,
		func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usageErrorf(path, "expected at least one service name")
			}
			if *output != "table" && *output != "json" {
				return usageErrorf(path, "--output must be table or json, not %q", *output)
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				if *output == "table" {
					fmt.Fprintln(tw, "SERVICE\tSTARTED\tUPTIME\tMEMORY\tGOROUTINES\tGC\tREQUESTS\tERRORS")
				}
				for _, svc := range args {
					var st debugpb.StatsResponse
					if err := invokeDebug(ctx, cl, svc, "Debug.Stats", &st); err != nil {
						tw.Flush()
						return err
					}
					if *output == "json" {
						b, _ := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(&st)
						fmt.Fprintf(tw, "{\"service\":%q,\"stats\":%s}\n", svc, b)
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\n", svc,
						time.Unix(int64(st.GetStarted()), 0).Format(time.DateTime),
						time.Duration(st.GetUptime())*time.Second, mebibytes(st.GetMemory()), st.GetThreads(),
						time.Duration(st.GetGc()).Round(time.Microsecond), st.GetRequests(), st.GetErrors())
				}
				return tw.Flush()
			})
		})
}

// invokeDebug calls a Debug endpoint of service; both requests carry
// only the service's name.
func invokeDebug(ctx context.Context, cl *client, service, endpoint string, rsp any) error {
	var req any = &debugpb.HealthRequest{Service: service}
	if endpoint == "Debug.Stats" {
		req = &debugpb.StatsRequest{Service: service}
	}
	return cl.conn.Invoke(ctx, microclient.FullMethod(service, endpoint), req, rsp)
}

func mebibytes(n uint64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
