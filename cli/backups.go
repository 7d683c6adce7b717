package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/backup"
	pb "micro.dev/micro/proto/admin"
)

// backupsCommand is `micro backups [destination]`: the scheduled backups
// as the running server sees them (its last results and the snapshots at
// its destination), or, given a destination, the snapshots there, read
// directly with this machine's credentials (no server needed, e.g. when
// moving to a new machine).
func (a *app) backupsCommand() *ffcli.Command {
	const path = "micro backups"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("backups", path+" [directory | s3://bucket/prefix]",
		"List the scheduled backups: last results, and the snapshots with size, time and integrity", fs,
		func(ctx context.Context, args []string) error {
			switch len(args) {
			case 0:
				return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
					rsp, err := pb.NewAdminClient(cl.conn).Backups(ctx, &pb.BackupsRequest{})
					if err != nil {
						return err
					}
					a.printBackups(rsp)
					return nil
				})
			case 1:
				dest, err := backup.Open(args[0])
				if err != nil {
					return exitf(exitFailure, "%v", err)
				}
				entries, err := backup.List(ctx, dest)
				if err != nil {
					return exitf(exitFailure, "%v", err)
				}
				snaps := make([]*pb.Snapshot, 0, len(entries))
				for _, e := range entries {
					snaps = append(snaps, &pb.Snapshot{Name: e.Name, Size: e.Size, Taken: e.Taken.UnixNano(), Integrity: e.Integrity})
				}
				printSnapshots(a.stdout, dest.String(), snaps)
				return nil
			}
			return usageErrorf(path, "give at most one destination")
		})
}

func (a *app) printBackups(rsp *pb.BackupsResponse) {
	w := a.stdout
	if !rsp.GetScheduled() {
		fmt.Fprintln(w, "The server takes no scheduled backups; start it with --backup-to DIR or s3://bucket/prefix (and --backup-every, --backup-keep).")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	keep := fmt.Sprint(rsp.GetKeep())
	if rsp.GetKeep() == 0 {
		keep = "all"
	}
	fmt.Fprintf(tw, "Destination:\t%s\n", rsp.GetDestination())
	if by := rsp.GetStandby(); by != "" {
		fmt.Fprintf(tw, "Taken by:\t%s (the cluster's leader); this node stands by\n", by)
	}
	fmt.Fprintf(tw, "Schedule:\tevery %s, keep %s\n", time.Duration(rsp.GetEverySeconds())*time.Second, keep)
	fmt.Fprintf(tw, "Last success:\t%s\n", when(rsp.GetLastSuccess()))
	if rsp.GetLastError() != "" {
		fmt.Fprintf(tw, "LAST BACKUP FAILED:\t%s: %s\n", when(rsp.GetLastErrorAt()), rsp.GetLastError())
	}
	fmt.Fprintf(tw, "Since start:\t%d good, %d failed\n", rsp.GetSuccesses(), rsp.GetFailures())
	next := when(rsp.GetNext())
	if rsp.GetRunning() {
		next = "running now"
	}
	fmt.Fprintf(tw, "Next:\t%s\n", next)
	tw.Flush()
	fmt.Fprintln(w)
	if rsp.GetListError() != "" {
		fmt.Fprintf(w, "Cannot list the destination: %s\n", rsp.GetListError())
		return
	}
	printSnapshots(w, rsp.GetDestination(), rsp.GetSnapshots())
}

func printSnapshots(w io.Writer, dest string, snaps []*pb.Snapshot) {
	if len(snaps) == 0 {
		fmt.Fprintf(w, "No backups at %s yet.\n", dest)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tTAKEN\tINTEGRITY")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.GetName(), byteSize(s.GetSize()), when(s.GetTaken()), s.GetIntegrity())
	}
	tw.Flush()
}

// when formats Unix nanoseconds for a listing; 0 is never.
func when(ns int64) string {
	if ns == 0 {
		return "never"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

// byteSize is n in the largest unit that keeps it at least 1.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// restoreCommand is `micro restore SOURCE FILE`: fetch a backup (the
// newest, when SOURCE names a directory or bucket prefix), unpack and
// check it, and leave it at FILE ready for `micro server --data FILE`.
func (a *app) restoreCommand() *ffcli.Command {
	const path = "micro restore"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	force := fs.Bool("force", false, "replace FILE if it exists (never while a server has it open)")
	return a.leaf("restore", path+" [--force] <backup | directory | s3://bucket/prefix[/name]> <file>",
		"Fetch a backup, check it, and write it as a database file to start a server on", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 2 {
				return usageErrorf(path, "give the backup and the file to write, e.g. micro restore s3://bucket/micro ./micro.db")
			}
			src, name, err := backup.Locate(args[0])
			if err != nil {
				return exitf(exitFailure, "%v", err)
			}
			res, err := backup.Restore(ctx, src, name, args[1], *force)
			if err != nil {
				if errors.Is(err, backup.ErrNotFound) {
					return exitf(exitFailure, "%v", err)
				}
				return exitf(exitFailure, "restore failed, nothing written to %s: %v", args[1], err)
			}
			fmt.Fprintf(a.stdout, "Restored %s from %s to %s (%s, integrity_check ok).\nStart a server on it: micro server --data %s\n",
				res.Name, src, args[1], byteSize(res.Size), args[1])
			return nil
		})
}
