package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/admin"
)

// backupCommand is `micro backup FILE`: a consistent copy of the running
// server's database (of a cluster's replicated state, through one of its
// nodes), written on this machine. Restore = start a server on it.
func (a *app) backupCommand() *ffcli.Command {
	const path = "micro backup"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("backup", path+" <file>", "Copy the running server's database (a cluster's replicated state) to a local file", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "give the file to write, e.g. micro backup ./micro-backup.db")
		}
		dest := args[0]
		if _, err := os.Stat(dest); err == nil {
			return exitf(exitFailure, "%s already exists; choose a new file name", dest)
		}
		// Where the file goes is checked before the server does any work.
		tmp, err := os.CreateTemp(filepath.Dir(dest), ".micro-backup-*")
		if err != nil {
			return exitf(exitFailure, "cannot write %s: %v; choose a directory you can write to", dest, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		// A backup takes as long as the database is large: no call timeout.
		var size int64
		err = a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
			stream, err := pb.NewAdminClient(cl.conn).Backup(ctx, &pb.BackupRequest{})
			if err != nil {
				return err
			}
			for {
				chunk, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n, err := tmp.Write(chunk.GetData())
				if err != nil {
					return err
				}
				size += int64(n)
			}
			if err := tmp.Sync(); err != nil {
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			return os.Rename(tmp.Name(), dest)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Backed up %d bytes to %s\n", size, dest)
		return nil
	})
}
