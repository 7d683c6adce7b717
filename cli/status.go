package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/runtime"
)

// statusCommand is `micro status [name [version]]`.
func (a *app) statusCommand() *ffcli.Command {
	const path = "micro status"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("status", path+" [name [version]]", "Print the services the runtime runs and their status", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 2 {
				return usageErrorf(path, "expected at most a name and a version")
			}
			opts := &pb.ReadOptions{}
			if len(args) > 0 {
				opts.Service, opts.Version = serviceRef(args[0])
			}
			if len(args) > 1 {
				opts.Version = args[1]
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				opts.Namespace = cl.target.Namespace
				rsp, err := pb.NewRuntimeClient(cl.conn).Read(ctx, &pb.ReadRequest{Options: opts})
				if err != nil {
					return err
				}
				printStatus(a.stdout, rsp.GetServices(), time.Now())
				return nil
			})
		})
}

var statusNames = []string{"unknown", "pending", "building", "starting", "running", "stopping", "stopped", "error"}

// printStatus prints the NAME VERSION SOURCE STATUS BUILD UPDATED METADATA
// table, sorted by name; a line saying so when there are no services.
func printStatus(w io.Writer, svcs []*pb.Service, now time.Time) {
	if len(svcs) == 0 {
		fmt.Fprintln(w, "no services running")
		return
	}
	sort.SliceStable(svcs, func(i, j int) bool {
		if svcs[i].Name != svcs[j].Name {
			return svcs[i].Name < svcs[j].Name
		}
		return svcs[i].Version < svcs[j].Version
	})
	oneLine := strings.NewReplacer("\r\n", "; ", "\n", "; ", "\t", " ")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSOURCE\tSTATUS\tBUILD\tUPDATED\tMETADATA")
	for _, s := range svcs {
		md := s.GetMetadata()
		status := "unknown"
		if st := int(s.Status); st >= 0 && st < len(statusNames) {
			status = statusNames[st]
		}
		source := md["source"]
		if source == "" {
			source = s.Source
		}
		meta := fmt.Sprintf("owner=%s, group=%s", orNA(md["owner"]), orNA(md["group"]))
		if r := md["retries"]; r != "" && r != "0" {
			meta += ", retries=" + r
		}
		if e := md["error"]; e != "" && status == "error" {
			meta += ", error=" + e
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, orNA(s.Version), orNA(source), status,
			orNA(truncate(md["build"], 7)), timeAgo(md["started"], now), oneLine.Replace(meta))
	}
	tw.Flush()
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// timeAgo renders an RFC 3339 time as "1d2h3m4s ago", leading zero units
// left out; "n/a" when there is none.
func timeAgo(stamp string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		return "n/a"
	}
	d := max(now.Sub(t), 0).Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, d := d/time.Minute, d%time.Minute
	s := d / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm%ds ago", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%dh%dm%ds ago", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%ds ago", m, s)
	}
	return fmt.Sprintf("%ds ago", s)
}

// logsCommand is `micro logs <name[@version]>`.
func (a *app) logsCommand() *ffcli.Command {
	const path = "micro logs"
	var (
		follow  bool
		lines   int64
		since   time.Duration
		output  string
		version string
		fs      = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.BoolVar(&follow, "follow", false, "keep printing new lines")
	alias(fs, "follow", "f")
	fs.Int64Var(&lines, "lines", 15, "print the last this many lines (0: all kept)")
	alias(fs, "lines", "n")
	fs.DurationVar(&since, "since", 0, "only lines from this long ago on, e.g. 10m, 1h")
	fs.StringVar(&output, "output", "text", "output format, text or json")
	alias(fs, "output", "o")
	fs.StringVar(&version, "version", "", "service version (default latest)")
	return a.leaf("logs", path+" [flags] <name[@version]>", "Print a service's logs: its output, builds and restarts", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "expected one service name")
			}
			if output != "text" && output != "json" {
				return usageErrorf(path, "--output must be text or json, not %q", output)
			}
			if lines < 0 || since < 0 {
				return usageErrorf(path, "--lines and --since must not be negative")
			}
			name, v := serviceRef(args[0])
			if v == "" {
				v = version
			}
			return a.withClient(ctx, callOptions{follow: follow}, func(ctx context.Context, cl *client) error {
				req := &pb.LogsRequest{Service: name, Version: v, Count: lines, Stream: follow,
					Options: &pb.LogsOptions{Namespace: cl.target.Namespace}}
				if since > 0 {
					req.Since = int64((since + time.Second - 1) / time.Second)
				}
				stream, err := pb.NewRuntimeClient(cl.conn).Logs(ctx, req)
				if err != nil {
					return err
				}
				for {
					rec, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if output == "json" {
						b, _ := json.Marshal(map[string]any{"timestamp": rec.Timestamp, "metadata": rec.Metadata, "message": rec.Message})
						fmt.Fprintf(a.stdout, "%s\n", b)
					} else {
						fmt.Fprintln(a.stdout, rec.Message)
					}
				}
			})
		})
}
