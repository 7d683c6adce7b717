package cli

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"micro.dev/micro/blocks/runtime/source"
	pb "micro.dev/micro/proto/runtime"
)

// watchPoll is how often micro run --watch looks for changes to re-upload.
const watchPoll = 500 * time.Millisecond

// watchAndUpload re-uploads dir and updates the service whenever its files
// change, until ctx ends (Ctrl-C). Polling keeps it simple and portable; a
// change is sent once the tree has been still for one poll.
func (a *app) watchAndUpload(ctx context.Context, cl *client, dir string, svc *pb.Service) error {
	fmt.Fprintf(a.stderr, "Watching %s: every saved change is uploaded and rebuilt; press Ctrl-C to stop\n", dir)
	rt := pb.NewRuntimeClient(cl.conn)
	last := treeFingerprint(dir)
	pending := false
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fp := treeFingerprint(dir)
		if fp != last {
			last, pending = fp, true
			continue
		}
		if !pending {
			continue
		}
		pending = false
		err := cl.buildCall(ctx, func(ctx context.Context) error {
			id, err := cl.upload(ctx, dir, svc.Name, svc.Version)
			if err != nil {
				return err
			}
			_, err = rt.Update(ctx, &pb.UpdateRequest{
				Resource: &pb.Resource{Service: &pb.Service{Name: svc.Name, Version: svc.Version, Source: id}},
				Options:  &pb.UpdateOptions{Namespace: cl.target.Namespace},
			})
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintln(a.stderr, strings.TrimSpace(err.Error()))
			continue
		}
		fmt.Fprintf(a.stderr, "Updated %s\n", svc.Name)
	}
}

// treeFingerprint hashes the names, sizes and times of dir's files.
func treeFingerprint(dir string) uint64 {
	h := fnv.New64a()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && source.Skip(d.Name()) {
			return filepath.SkipDir
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(h, "%s\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return h.Sum64()
}
