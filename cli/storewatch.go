package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/store"
)

// optionalRevision is --if-revision: unset unless given, as 0 means "must
// not exist".
type optionalRevision struct {
	set bool
	rev uint64
}

func (o *optionalRevision) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatUint(o.rev, 10)
}

func (o *optionalRevision) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a revision, a whole number from 0")
	}
	o.set, o.rev = true, n
	return nil
}

// value is the request's if_revision: nil when the flag was not given.
func (o *optionalRevision) value() *uint64 {
	if !o.set {
		return nil
	}
	r := o.rev
	return &r
}

func revisionFlag(fs *flag.FlagSet, usage string) *optionalRevision {
	o := &optionalRevision{}
	fs.Var(o, "if-revision", usage)
	return o
}

// storeWatch is `micro store watch <key>`: one line per change to the key
// (or with --prefix every key starting with it), until Ctrl-C.
func (a *app) storeWatch() *ffcli.Command {
	const path = "micro store watch"
	var (
		loc    location
		prefix bool
		output string
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	fs.BoolVar(&prefix, "prefix", false, "watch every key that starts with <key>")
	alias(fs, "prefix", "p")
	fs.StringVar(&output, "output", "", "output format, table or json (default table: TYPE KEY REVISION VALUE per line)")
	shortHelp := "Print each change to a key (or with --prefix, to keys starting with it) as it happens, until Ctrl-C"
	return a.leaf("watch", path+" [flags] <key>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) > 1 || (len(args) == 0 && !prefix) {
			return usageErrorf(path, "expected one key (or --prefix with an empty key for the whole table)")
		}
		if err := checkOutput(path, output); err != nil {
			return err
		}
		key := ""
		if len(args) == 1 {
			key = args[0]
		}
		return a.withClient(ctx, callOptions{follow: true}, func(ctx context.Context, cl *client) error {
			conn, t := cl.conn, cl.target
			db, table := loc.resolve(t)
			stream, err := pb.NewStoreClient(conn).Watch(ctx, &pb.WatchRequest{Database: db, Table: table, Key: key, Prefix: prefix})
			if err != nil {
				return err
			}
			what := "watching " + key
			if prefix {
				what = fmt.Sprintf("watching keys starting with %q", key)
			}
			if err := a.accepted(stream.Header, func() error { _, err := stream.Recv(); return err }, what); err != nil {
				return err
			}
			for {
				ev, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				r := ev.GetRecord()
				if output == "json" {
					if err := printJSON(a.stdout, map[string]any{
						"type": ev.Type, "key": r.GetKey(), "revision": r.GetRevision(), "value": string(r.GetValue()),
					}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(a.stdout, "%s\t%s\t%d\t%s\n", ev.Type, r.GetKey(), r.GetRevision(), r.GetValue())
			}
		})
	})
}
