package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/broker"
)

// brokerCommand is `micro broker`: fire-and-forget pub/sub.
func (a *app) brokerCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "broker",
		ShortUsage: "micro broker <command> [flags] [args...]",
		ShortHelp:  "Publish and subscribe to messages (not stored)",
		LongHelp:   "The broker delivers each message to the subscribers of its topic at that moment; nothing is stored.",
		FlagSet:    flag.NewFlagSet("micro broker", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.brokerPublish(),
			a.brokerSubscribe(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// brokerPublish is `micro broker publish <topic> <message...>`.
func (a *app) brokerPublish() *ffcli.Command {
	const path = "micro broker publish"
	var (
		header = metadataFlag{}
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.Var(header, "header", "message header `key=value` (repeatable)")
	alias(fs, "header", "H")
	shortHelp := "Publish a message; its words are joined by spaces"
	return a.leaf("publish", path+" [flags] <topic> <message...>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) < 2 {
			return usageErrorf(path, "expected a topic and a message")
		}
		return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			_, err := pb.NewBrokerClient(conn).Publish(ctx, &pb.PublishRequest{Topic: args[0],
				Message: &pb.Message{Header: header, Body: []byte(strings.Join(args[1:], " "))}})
			return err
		})
	})
}

// brokerSubscribe is `micro broker subscribe <topic>`: each message's body
// on a line, until Ctrl-C (or --count messages).
func (a *app) brokerSubscribe() *ffcli.Command {
	const path = "micro broker subscribe"
	var (
		queue string
		count int
		fs    = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&queue, "queue", "", "share the topic with the other subscribers of this queue: each message goes to one of them")
	alias(fs, "queue", "q")
	fs.IntVar(&count, "count", 0, "stop after this many messages (default: until Ctrl-C)")
	alias(fs, "count", "n")
	return a.leaf("subscribe", path+" [flags] <topic>", "Print the bodies of a topic's messages, one per line, until Ctrl-C", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one topic")
		}
		if count < 0 {
			return usageErrorf(path, "--count must not be negative")
		}
		return a.withClient(ctx, callOptions{follow: true}, func(ctx context.Context, cl *client) error {
			conn := cl.conn
			stream, err := pb.NewBrokerClient(conn).Subscribe(ctx, &pb.SubscribeRequest{Topic: args[0], Queue: queue})
			if err != nil {
				return err
			}
			if err := a.accepted(stream.Header, func() error { _, err := stream.Recv(); return err },
				"subscribed to "+args[0]); err != nil {
				return err
			}
			for n := 0; count == 0 || n < count; n++ {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s\n", m.Body)
			}
			return nil
		})
	})
}
