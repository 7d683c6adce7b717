package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/store"
)

// blobChunk is how much of a file one message of micro blob put carries.
const blobChunk = 64 << 10

// blobCommand is `micro blob`: the blob store, which Micro's CLI had no
// commands for. Blobs live where `micro store` records do: --database
// (default the current namespace) and --table (default micro), which is
// where a service's store.DefaultBlobStore keeps them too.
func (a *app) blobCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "blob",
		ShortUsage: "micro blob <command> [flags] [args...]",
		ShortHelp:  "Put, get, list and remove blobs of the blob store",
		LongHelp: "The blob store keeps larger values, streamed in chunks. Blobs live in a database, the current\n" +
			"namespace by default, and a table, \"micro\" by default: where services' store.DefaultBlobStore keeps them.",
		FlagSet: flag.NewFlagSet("micro blob", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.blobPut(), a.blobGet(), a.blobRemove(), a.blobList(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// withBlobs runs call with a blob store client and the blob options of
// loc. A transfer (put, get) has no timeout but Ctrl-C: a large blob takes
// as long as it takes.
func (a *app) withBlobs(ctx context.Context, loc location, transfer bool, call func(context.Context, pb.BlobStoreClient, *pb.BlobOptions) error) error {
	var o callOptions
	if transfer {
		o.timeout = noTimeout
	}
	return a.withClient(ctx, o, func(ctx context.Context, cl *client) error {
		database, table := loc.resolve(cl.target)
		return call(ctx, pb.NewBlobStoreClient(cl.conn), &pb.BlobOptions{Namespace: database, Table: table})
	})
}

// blobPut is `micro blob put KEY FILE|-`.
func (a *app) blobPut() *ffcli.Command {
	const path = "micro blob put"
	var (
		loc         location
		contentType string
		fs          = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	fs.StringVar(&contentType, "content-type", "", "content type kept with the blob")
	return a.leaf("put", path+" [flags] <key> <file|->", "Store a file (or stdin, with -) as a blob, replacing any of that key", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 2 {
				return usageErrorf(path, "expected a key and a file (- for stdin)")
			}
			in := a.stdin
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return exitf(exitFailure, "Cannot read %s: %v", args[1], errors.Unwrap(err))
				}
				defer f.Close()
				in = f
			}
			return a.withBlobs(ctx, loc, true, func(ctx context.Context, bs pb.BlobStoreClient, o *pb.BlobOptions) error {
				o.ContentType = contentType
				// Ending the stream without CloseAndRecv, on an error, stores nothing.
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				stream, err := bs.Write(ctx)
				if err != nil {
					return err
				}
				msg := &pb.BlobWriteRequest{Key: args[0], Options: o}
				buf := make([]byte, blobChunk)
				for {
					n, rerr := io.ReadFull(in, buf)
					if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
						return exitf(exitFailure, "Cannot read %s: %v", args[1], rerr)
					}
					if n > 0 || msg.Key != "" { // the first message names the key, even for an empty blob
						msg.Blob = buf[:n]
						if err := stream.Send(msg); err != nil {
							if err == io.EOF {
								break // the server ended the stream: CloseAndRecv says why
							}
							return err
						}
						msg = &pb.BlobWriteRequest{}
					}
					if rerr != nil {
						break
					}
				}
				_, err = stream.CloseAndRecv()
				return err
			})
		})
}

// blobGet is `micro blob get KEY [FILE]`: to stdout, or to FILE, which is
// replaced only once the whole blob has arrived.
func (a *app) blobGet() *ffcli.Command {
	const path = "micro blob get"
	var (
		loc location
		fs  = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	return a.leaf("get", path+" [flags] <key> [file]", "Write a blob to stdout, or to a file", fs,
		func(ctx context.Context, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf(path, "expected a key and at most one file")
			}
			out := a.stdout
			var tmp *os.File
			if len(args) == 2 && args[1] != "-" {
				var err error
				tmp, err = os.CreateTemp(filepath.Dir(args[1]), "."+filepath.Base(args[1])+".*")
				if err != nil {
					return exitf(exitFailure, "Cannot write %s: %v", args[1], errors.Unwrap(err))
				}
				defer os.Remove(tmp.Name()) // after the rename, a no-op
				defer tmp.Close()
				out = tmp
			}
			err := a.withBlobs(ctx, loc, true, func(ctx context.Context, bs pb.BlobStoreClient, o *pb.BlobOptions) error {
				stream, err := bs.Read(ctx, &pb.BlobReadRequest{Key: args[0], Options: o})
				if err != nil {
					return err
				}
				for {
					m, err := stream.Recv()
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
					if _, err := out.Write(m.Blob); err != nil {
						return exitf(exitFailure, "Cannot write the blob: %v", err)
					}
				}
			})
			if err != nil || tmp == nil {
				return err
			}
			if err := tmp.Close(); err != nil {
				return exitf(exitFailure, "Cannot write %s: %v", args[1], err)
			}
			if err := os.Rename(tmp.Name(), args[1]); err != nil {
				return exitf(exitFailure, "Cannot write %s: %v", args[1], errors.Unwrap(err))
			}
			return nil
		})
}

// blobRemove is `micro blob rm KEY`; removing a missing blob succeeds.
func (a *app) blobRemove() *ffcli.Command {
	const path = "micro blob rm"
	var (
		loc location
		fs  = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	return a.leaf("rm", path+" [flags] <key>", "Remove a blob", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one key")
		}
		return a.withBlobs(ctx, loc, false, func(ctx context.Context, bs pb.BlobStoreClient, o *pb.BlobOptions) error {
			_, err := bs.Delete(ctx, &pb.BlobDeleteRequest{Key: args[0], Options: o})
			return err
		})
	})
}

// blobList is `micro blob ls [PREFIX]`: keys one per line.
func (a *app) blobList() *ffcli.Command {
	const path = "micro blob ls"
	var (
		loc    location
		output string
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	loc.register(fs)
	fs.StringVar(&output, "output", "", "output format, table or json (default table)")
	return a.leaf("ls", path+" [flags] [prefix]", "Print the keys of the blobs, one per line", fs, func(ctx context.Context, args []string) error {
		if len(args) > 1 {
			return usageErrorf(path, "expected at most one prefix")
		}
		if err := checkOutput(path, output); err != nil {
			return err
		}
		prefix := ""
		if len(args) == 1 {
			prefix = args[0]
		}
		var keys []string
		err := a.withBlobs(ctx, loc, false, func(ctx context.Context, bs pb.BlobStoreClient, o *pb.BlobOptions) error {
			rsp, err := bs.List(ctx, &pb.BlobListRequest{Options: &pb.BlobListOptions{Namespace: o.Namespace, Table: o.Table, Prefix: prefix}})
			keys = rsp.GetKeys()
			return err
		})
		if err != nil {
			return err
		}
		if keys == nil {
			keys = []string{}
		}
		return a.printList(keys, output)
	})
}
