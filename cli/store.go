package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/store"
)

// defaultTable is the table the CLI's store commands use unless -t says
// otherwise, as in Micro.
const defaultTable = "micro"

// storeCommand is `micro store`. Unlike Micro v4, the
// --database flag is honoured; it defaults to the current namespace.
func (a *app) storeCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "store",
		ShortUsage: "micro store <command> [flags] [args...]",
		ShortHelp:  "Read and write the key-value store",
		LongHelp: "The store keeps records in databases and tables. The database defaults to the current\n" +
			"namespace (--namespace, MICRO_NAMESPACE or the env's) and the table to \"micro\".",
		FlagSet: flag.NewFlagSet("micro store", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.storeRead(),
			a.storeWrite(),
			a.storeDelete(),
			a.storeList(),
			a.storeDatabases(),
			a.storeTables(),
			a.storeWatch(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// location is where a store command acts: -d/--database and -t/--table.
type location struct {
	database, table string
}

// register adds -d/--database and -t/--table to fs.
func (l *location) register(fs *flag.FlagSet) {
	fs.StringVar(&l.database, "database", "", "database (default the current namespace)")
	alias(fs, "database", "d")
	fs.StringVar(&l.table, "table", defaultTable, "table")
	alias(fs, "table", "t")
}

// resolve returns the database and table, the database defaulting to the
// namespace the call is made in.
func (l *location) resolve(t *target) (database, table string) {
	database = l.database
	if database == "" {
		database = t.Namespace
	}
	return database, l.table
}

// paging is the shared -l/--limit, -o/--offset, --order and --output flags.
type paging struct {
	limit, offset uint64
	order, output string
}

// register adds -l/--limit, -o/--offset, --order and --output to fs.
func (p *paging) register(fs *flag.FlagSet) {
	fs.Uint64Var(&p.limit, "limit", 0, "at most this many results (0: no limit)")
	alias(fs, "limit", "l")
	fs.Uint64Var(&p.offset, "offset", 0, "skip this many results first")
	alias(fs, "offset", "o")
	fs.StringVar(&p.order, "order", "", "order of keys, asc or desc (default asc)")
	fs.StringVar(&p.output, "output", "", "output format, table or json (default table)")
}

// check validates --order and --output; path names the command.
func (p *paging) check(path string) error {
	if p.order != "" && p.order != "asc" && p.order != "desc" {
		return usageErrorf(path, "--order must be asc or desc, not %q", p.order)
	}
	return checkOutput(path, p.output)
}

// checkOutput validates --output; path names the command.
func checkOutput(path, output string) error {
	if output != "" && output != "table" && output != "json" {
		return usageErrorf(path, "--output must be table or json, not %q", output)
	}
	return nil
}

// withStore connects to the current env and runs call with a store client,
// the call's context (namespace metadata, timeout) and the target; call's
// error is reported as an RPC error.
func (a *app) withStore(ctx context.Context, call func(context.Context, pb.StoreClient, *target) error) error {
	return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
		return call(ctx, pb.NewStoreClient(cl.conn), cl.target)
	})
}

// storeRead is `micro store read <key>`: values one per line, a table with
// -v, or records as JSON with --output json.
func (a *app) storeRead() *ffcli.Command {
	const path = "micro store read"
	var (
		loc            location
		pg             paging
		prefix, suffix bool
		verbose        bool
		fs             = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	pg.register(fs)
	fs.BoolVar(&prefix, "prefix", false, "treat <key> as a prefix: read every key that starts with it")
	alias(fs, "prefix", "p")
	fs.BoolVar(&suffix, "suffix", false, "treat <key> as a suffix: read every key that ends with it")
	alias(fs, "suffix", "s")
	fs.BoolVar(&verbose, "verbose", false, "print a KEY VALUE EXPIRY table")
	alias(fs, "verbose", "v")

	shortHelp := "Print the value of a key (or of every key it starts or ends, with -p or -s)"
	return a.leaf("read", path+" [flags] <key>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one key")
		}
		if err := pg.check(path); err != nil {
			return err
		}
		var recs []*pb.Record
		err := a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, t *target) error {
			db, table := loc.resolve(t)
			rsp, err := st.Read(ctx, &pb.ReadRequest{Key: args[0], Options: &pb.ReadOptions{
				Database: db, Table: table, Prefix: prefix, Suffix: suffix,
				Limit: pg.limit, Offset: pg.offset, Order: pg.order,
			}})
			recs = rsp.GetRecords()
			return err
		})
		if err != nil {
			return err
		}
		switch {
		case pg.output == "json":
			return printRecordsJSON(a.stdout, recs)
		case verbose:
			return printRecordsTable(a.stdout, recs)
		}
		for _, r := range recs {
			fmt.Fprintf(a.stdout, "%s\n", r.Value)
		}
		return nil
	})
}

// recordJSON is a record as `micro store read --output json` prints it: the
// value as text, as `micro store write` took it, and expiry as the seconds
// left (0: never expires), the store's own unit.
type recordJSON struct {
	Key      string               `json:"key"`
	Value    string               `json:"value"`
	Expiry   int64                `json:"expiry"`
	Metadata map[string]fieldJSON `json:"metadata,omitempty"`
}

type fieldJSON struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// printRecordsJSON prints recs as an indented JSON array of recordJSON.
func printRecordsJSON(w io.Writer, recs []*pb.Record) error {
	out := make([]recordJSON, 0, len(recs))
	for _, r := range recs {
		rj := recordJSON{Key: r.Key, Value: string(r.Value), Expiry: r.Expiry}
		if len(r.Metadata) > 0 {
			rj.Metadata = make(map[string]fieldJSON, len(r.Metadata))
			for k, f := range r.Metadata {
				rj.Metadata[k] = fieldJSON{Type: f.GetType(), Value: f.GetValue()}
			}
		}
		out = append(out, rj)
	}
	return printJSON(w, out)
}

// printJSON prints v as indented JSON, as Micro did.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// maxTableValue is how many characters of a value the verbose table shows,
// as in Micro.
const maxTableValue = 50

// printRecordsTable prints the KEY VALUE EXPIRY REVISION table of read -v.
func printRecordsTable(w io.Writer, recs []*pb.Record) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tEXPIRY\tREVISION")
	// A newline or tab inside a value would break the table's rows and columns.
	escape := strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`)
	for _, r := range recs {
		value := string(r.Value)
		if utf8.RuneCountInString(value) > maxTableValue {
			value = string([]rune(value)[:maxTableValue]) + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", escape.Replace(r.Key), escape.Replace(value), humanExpiry(r.Expiry), r.Revision)
	}
	return tw.Flush()
}

// humanExpiry renders the seconds a record has left: "None" when it never
// expires, else a Go duration such as "2s" or "1m30s".
func humanExpiry(seconds int64) string {
	if seconds <= 0 {
		return "None"
	}
	return (time.Duration(seconds) * time.Second).String()
}

// storeWrite is `micro store write <key> <value...>`.
func (a *app) storeWrite() *ffcli.Command {
	const path = "micro store write"
	var (
		loc    location
		expiry time.Duration
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	fs.DurationVar(&expiry, "expiry", 0, "expire the record after this long, e.g. 30s, 1h (rounded up to whole seconds)")
	alias(fs, "expiry", "e")
	ifRev := revisionFlag(fs, "write only if the record is at this revision (0: only if it does not exist)")

	shortUsage := path + " [flags] <key> <value...>"
	shortHelp := "Write a record; the words of the value are joined by spaces (use -- before a value starting with -)"
	return a.leaf("write", shortUsage, shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) < 2 {
			return usageErrorf(path, "expected a key and a value")
		}
		if expiry < 0 {
			return usageErrorf(path, "--expiry must not be negative")
		}
		return a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, t *target) error {
			db, table := loc.resolve(t)
			_, err := st.Write(ctx, &pb.WriteRequest{
				Record: &pb.Record{
					Key:    args[0],
					Value:  []byte(strings.Join(args[1:], " ")),
					Expiry: expirySeconds(expiry),
				},
				Options: &pb.WriteOptions{Database: db, Table: table, IfRevision: ifRev.value()},
			})
			return err
		})
	})
}

// expirySeconds converts a duration to the store's whole seconds, rounding
// up so that a record never expires before it was asked to: 1500ms is 2s,
// and any positive duration is at least 1s (0 would mean never).
func expirySeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// storeDelete is `micro store delete <key>`.
func (a *app) storeDelete() *ffcli.Command {
	const path = "micro store delete"
	var (
		loc location
		fs  = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	ifRev := revisionFlag(fs, "delete only if the record is at this revision")
	return a.leaf("delete", path+" [flags] <key>", "Delete a record", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one key")
		}
		return a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, t *target) error {
			db, table := loc.resolve(t)
			_, err := st.Delete(ctx, &pb.DeleteRequest{Key: args[0], Options: &pb.DeleteOptions{Database: db, Table: table, IfRevision: ifRev.value()}})
			return err
		})
	})
}

// storeList is `micro store list`: the keys of a table, one per line. The
// store streams them; every message is read before printing.
func (a *app) storeList() *ffcli.Command {
	const path = "micro store list"
	var (
		loc            location
		pg             paging
		prefix, suffix string
		fs             = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	pg.register(fs)
	fs.StringVar(&prefix, "prefix", "", "only keys that start with this")
	alias(fs, "prefix", "p")
	fs.StringVar(&suffix, "suffix", "", "only keys that end with this")
	alias(fs, "suffix", "s")

	return a.leaf("list", path+" [flags]", "Print the keys of a table, one per line", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q (filter keys with --prefix or --suffix)", args[0])
		}
		if err := pg.check(path); err != nil {
			return err
		}
		keys := []string{}
		err := a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, t *target) error {
			db, table := loc.resolve(t)
			stream, err := st.List(ctx, &pb.ListRequest{Options: &pb.ListOptions{
				Database: db, Table: table, Prefix: prefix, Suffix: suffix,
				Limit: pg.limit, Offset: pg.offset, Order: pg.order,
			}})
			if err != nil {
				return err
			}
			for {
				rsp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				keys = append(keys, rsp.Keys...)
			}
		})
		if err != nil {
			return err
		}
		return a.printList(keys, pg.output)
	})
}

// printList prints names one per line, or as a JSON array.
func (a *app) printList(names []string, output string) error {
	if output == "json" {
		return printJSON(a.stdout, names)
	}
	for _, n := range names {
		fmt.Fprintln(a.stdout, n)
	}
	return nil
}

// storeDatabases is `micro store databases`.
func (a *app) storeDatabases() *ffcli.Command {
	const path = "micro store databases"
	var (
		output string
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&output, "output", "", "output format, table or json (default table)")
	return a.leaf("databases", path, "Print the databases, one per line", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q", args[0])
		}
		if err := checkOutput(path, output); err != nil {
			return err
		}
		var dbs []string
		err := a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, _ *target) error {
			rsp, err := st.Databases(ctx, &pb.DatabasesRequest{})
			dbs = rsp.GetDatabases()
			return err
		})
		if err != nil {
			return err
		}
		return a.printList(dbs, output)
	})
}

// storeTables is `micro store tables [-d db]`.
func (a *app) storeTables() *ffcli.Command {
	const path = "micro store tables"
	var (
		database, output string
		fs               = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&database, "database", "", "database (default the current namespace)")
	alias(fs, "database", "d")
	fs.StringVar(&output, "output", "", "output format, table or json (default table)")
	return a.leaf("tables", path+" [flags]", "Print the tables of a database, one per line", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q", args[0])
		}
		if err := checkOutput(path, output); err != nil {
			return err
		}
		var tables []string
		err := a.withStore(ctx, func(ctx context.Context, st pb.StoreClient, t *target) error {
			db := database
			if db == "" {
				db = t.Namespace
			}
			rsp, err := st.Tables(ctx, &pb.TablesRequest{Database: db})
			tables = rsp.GetTables()
			return err
		})
		if err != nil {
			return err
		}
		return a.printList(tables, output)
	})
}
