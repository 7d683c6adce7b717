package node

import (
	"io"
	"os"
	"path/filepath"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/admin"
)

// backupChunk is the size of one streamed piece of a backup.
const backupChunk = 1 << 20

// admin serves the node's own admin.Admin service.
type admin struct {
	pb.UnimplementedAdminServer
	node *Node
}

// Backup takes a consistent snapshot next to the database (VACUUM INTO, so
// writers go on), or on a node of a cluster exports the cluster's state
// into a fresh file (export.go), and streams it to the caller, who may be
// on another machine.
func (a *admin) Backup(_ *pb.BackupRequest, stream pb.Admin_BackupServer) error {
	ctx := stream.Context()
	// The whole database holds every namespace's secrets: only an
	// administrator of the micro namespace may copy it.
	if err := a.node.authz.Check(ctx, metadata.DefaultNamespace, true); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(a.node.db.Path()), ".micro-backup-")
	if err != nil {
		return errors.InternalServerError("admin", "backup: %v", err)
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "snapshot.db")
	if err := a.node.snapshotSource().Backup(ctx, snap); err != nil {
		if a.node.cluster != nil {
			// What fails is reading the cluster: try again once it answers.
			return errors.ServiceUnavailable("admin", "backup of the cluster: %v", err)
		}
		return errors.InternalServerError("admin", "backup: %v", err)
	}
	f, err := os.Open(snap)
	if err != nil {
		return errors.InternalServerError("admin", "backup: %v", err)
	}
	defer f.Close()
	buf := make([]byte, backupChunk)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&pb.BackupChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.InternalServerError("admin", "backup: %v", err)
		}
	}
}
