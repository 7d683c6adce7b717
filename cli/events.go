package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/events"
)

// eventsCommand is `micro events`: the durable event stream.
func (a *app) eventsCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "events",
		ShortUsage: "micro events <command> [flags] [args...]",
		ShortHelp:  "Publish, consume and read durable events",
		LongHelp: "Events are stored in order per topic, each with a sequence number, and kept for the topic's\n" +
			"retention (24h by default). Consumers in a --group share a topic and resume where the group left off.",
		FlagSet: flag.NewFlagSet("micro events", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.eventsPublish(),
			a.eventsConsume(),
			a.eventsRead(),
			a.eventsTopics(),
			a.eventsRetention(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// metadataFlag collects repeated -m key=value flags.
type metadataFlag map[string]string

func (m metadataFlag) String() string { return "" }

func (m metadataFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, not %q", v)
	}
	m[k] = val
	return nil
}

// eventsPublish is `micro events publish <topic> <payload...>`.
func (a *app) eventsPublish() *ffcli.Command {
	const path = "micro events publish"
	var (
		md = metadataFlag{}
		fs = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.Var(md, "metadata", "metadata `key=value` of the event (repeatable)")
	alias(fs, "metadata", "m")
	shortHelp := "Publish an event; the words of the payload are joined by spaces (JSON, e.g. '{\"id\":1}')"
	return a.leaf("publish", path+" [flags] <topic> <payload...>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) < 2 {
			return usageErrorf(path, "expected a topic and a payload")
		}
		return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			_, err := pb.NewStreamClient(conn).Publish(ctx, &pb.PublishRequest{Topic: args[0], Metadata: md,
				Payload: []byte(strings.Join(args[1:], " "))})
			return err
		})
	})
}

// eventsConsume is `micro events consume <topic>`: replays, then follows
// until Ctrl-C (or --count events), one JSON line per event.
func (a *app) eventsConsume() *ffcli.Command {
	const path = "micro events consume"
	var (
		group, offset string
		sequence      uint64
		newOnly       bool
		count         int
		fs            = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&group, "group", "", "consume as a member of this group: it shares the events and resumes where the group left off")
	alias(fs, "group", "g")
	fs.StringVar(&offset, "offset", "", "start at this time: unix seconds, or a duration ago such as 1h (default the oldest retained event)")
	alias(fs, "offset", "o")
	fs.Uint64Var(&sequence, "sequence", 0, "start at this sequence number")
	fs.BoolVar(&newOnly, "new", false, "only events published from now on")
	fs.IntVar(&count, "count", 0, "stop after this many events (default: follow until Ctrl-C)")
	alias(fs, "count", "n")
	shortHelp := "Print a topic's events as JSON lines: replay, then follow until Ctrl-C"
	return a.leaf("consume", path+" [flags] <topic>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one topic")
		}
		start, err := parseOffset(offset, time.Now())
		if err != nil {
			return usageErrorf(path, "%v", err)
		}
		if count < 0 {
			return usageErrorf(path, "--count must not be negative")
		}
		req := &pb.ConsumeRequest{Topic: args[0], Group: group, Offset: start, Sequence: sequence, NewOnly: newOnly, AutoAck: true}
		return a.withClient(ctx, callOptions{follow: true}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := pb.NewStreamClient(conn).Consume(ctx)
			if err != nil {
				return err
			}
			if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			for n := 0; count == 0 || n < count; n++ {
				ev, err := stream.Recv()
				if err != nil {
					return err
				}
				if err := printEvent(a.stdout, ev); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// parseOffset reads --offset: unix seconds, or a duration before now.
func parseOffset(s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).Unix(), nil
	}
	return 0, fmt.Errorf("--offset %q is neither unix seconds nor a duration such as 1h", s)
}

// eventJSON is an event as the CLI prints it: the payload embedded as JSON
// when it is JSON, else as a string; numbers as numbers.
type eventJSON struct {
	ID        string            `json:"id"`
	Topic     string            `json:"topic"`
	Sequence  uint64            `json:"sequence"`
	Timestamp int64             `json:"timestamp"`
	Metadata  map[string]string `json:"metadata"`
	Payload   json.RawMessage   `json:"payload"`
}

func printEvent(w io.Writer, ev *pb.Event) error {
	md := ev.Metadata
	if md == nil {
		md = map[string]string{}
	}
	b, err := json.Marshal(eventJSON{ID: ev.Id, Topic: ev.Topic, Sequence: ev.Sequence, Timestamp: ev.Timestamp,
		Metadata: md, Payload: json.RawMessage(jsonValue(string(ev.Payload)))})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// eventsRead is `micro events read <topic>`: stored events, oldest first.
func (a *app) eventsRead() *ffcli.Command {
	const path = "micro events read"
	var (
		limit, offset uint64
		fs            = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.Uint64Var(&limit, "limit", 0, "at most this many events (default 250)")
	alias(fs, "limit", "l")
	fs.Uint64Var(&offset, "offset", 0, "skip this many events first")
	alias(fs, "offset", "o")
	return a.leaf("read", path+" [flags] <topic>", "Print a topic's stored events, oldest first, as JSON lines", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one topic")
		}
		var evs []*pb.Event
		err := a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			rsp, err := pb.NewStoreClient(conn).Read(ctx, &pb.ReadRequest{Topic: args[0], Limit: limit, Offset: offset})
			evs = rsp.GetEvents()
			return err
		})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := printEvent(a.stdout, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// eventsTopics is `micro events topics`: a table of the namespace's topics.
func (a *app) eventsTopics() *ffcli.Command {
	const path = "micro events topics"
	var (
		output string
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&output, "output", "", "output format, table or json (default table)")
	return a.leaf("topics", path+" [flags]", "List topics: sequence range, retention and consumer groups", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q", args[0])
		}
		if err := checkOutput(path, output); err != nil {
			return err
		}
		var topics []*pb.Topic
		err := a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			rsp, err := pb.NewTopicsClient(conn).List(ctx, &pb.ListTopicsRequest{})
			topics = rsp.GetTopics()
			return err
		})
		if err != nil {
			return err
		}
		if output == "json" {
			return printJSON(a.stdout, topicsJSON(topics))
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tFIRST\tLAST\tRETENTION\tGROUPS")
		for _, t := range topics {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", t.Name, t.FirstSequence, t.LastSequence,
				time.Duration(t.Retention)*time.Second, strings.Join(t.Groups, ","))
		}
		return tw.Flush()
	})
}

func topicsJSON(topics []*pb.Topic) []map[string]any {
	out := []map[string]any{}
	for _, t := range topics {
		groups := t.Groups
		if groups == nil {
			groups = []string{}
		}
		out = append(out, map[string]any{"name": t.Name, "first_sequence": t.FirstSequence, "last_sequence": t.LastSequence,
			"retention": t.Retention, "retention_set": t.RetentionSet, "groups": groups})
	}
	return out
}

// eventsRetention is `micro events retention <topic> <duration|default>`.
func (a *app) eventsRetention() *ffcli.Command {
	const path = "micro events retention"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	shortHelp := "Set how long a topic keeps events (e.g. 72h, or default for the server's)"
	return a.leaf("retention", path+" <topic> <duration|default>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) != 2 {
			return usageErrorf(path, "expected a topic and a duration")
		}
		var seconds int64
		if args[1] != "default" {
			d, err := time.ParseDuration(args[1])
			if err != nil || d < time.Second {
				return usageErrorf(path, "retention %q is not a duration of a second or more, such as 72h", args[1])
			}
			seconds = int64((d + time.Second - 1) / time.Second)
		}
		return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			_, err := pb.NewTopicsClient(conn).Update(ctx, &pb.UpdateTopicRequest{Topic: args[0], Retention: seconds})
			return err
		})
	})
}
