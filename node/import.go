package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/admin"
	"micro.dev/micro/schema"
)

// Bounds of micro cluster import: the file a caller may send, and how long
// it may take to arrive.
const (
	MaxImportSize       = 64 << 30
	importReceiveWithin = time.Hour
)

// stateCopier is a block whose replicated state moves between an
// appliance's file and its JetStream backend (blocks/*/import.go): Held
// says what the cluster already holds ("" nothing), Import copies what the
// cluster lacks from a file and counts what it kept, Export copies the
// cluster's state into a fresh file (export.go). The same blocks import
// and export, so a cluster's backup imports whole.
type stateCopier interface {
	Held(ctx context.Context) (string, error)
	Import(ctx context.Context, from *schema.DB) (copied, kept int, err error)
	Export(ctx context.Context, to *schema.DB) (copied int, err error)
}

var errNotClustered = errors.PreconditionFailed("admin", "micro cluster import is for a node of a cluster (micro server --cluster ...); "+
	"this server keeps its state in its own SQLite file: to move an appliance to another machine, copy its file (micro backup)")

// Import receives an appliance's database file and copies it into the
// cluster (importFile). Only an administrator of namespace micro may: the
// file replaces who may log in.
func (a *admin) Import(stream pb.Admin_ImportServer) error {
	ctx := stream.Context()
	n := a.node
	if err := n.authz.Check(ctx, metadata.DefaultNamespace, true); err != nil {
		return err
	}
	if n.cluster == nil {
		return errNotClustered
	}
	if !n.importing.TryLock() {
		return errors.Conflict("admin", "an import is already running on this node; wait for it to finish")
	}
	defer n.importing.Unlock()
	path, merge, err := n.receiveImport(stream)
	if path != "" {
		defer removeDB(path)
	}
	if err != nil {
		return err
	}
	blocks, err := n.importFile(ctx, path, merge)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.ImportResponse{Blocks: blocks})
}

// receiveImport writes the streamed file beside the node's database, at
// most the size its first message announced (and MaxImportSize), within
// importReceiveWithin.
func (n *Node) receiveImport(stream pb.Admin_ImportServer) (path string, merge bool, err error) {
	first, err := stream.Recv()
	if err != nil {
		return "", false, err
	}
	size := first.GetSize()
	if size <= 0 || size > MaxImportSize {
		return "", false, errors.BadRequest("admin", "import: the file is %d bytes; give a size from 1 to %d bytes in the first message", size, int64(MaxImportSize))
	}
	if err := n.db.Room(size); err != nil {
		return "", false, errors.InsufficientStorage("admin", "import: the server has no room for the file: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(n.db.Path()), ".micro-import-*.db")
	if err != nil {
		return "", false, errors.InternalServerError("admin", "import: %v", err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		var got int64
		for msg := first; ; {
			got += int64(len(msg.GetData()))
			if got > size {
				done <- errors.BadRequest("admin", "import: more than the %d bytes announced arrived", size)
				return
			}
			if _, err := f.Write(msg.GetData()); err != nil {
				done <- errors.InternalServerError("admin", "import: writing the file beside the database: %v", err)
				return
			}
			next, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				done <- err
				return
			}
			msg = next
		}
		if got != size {
			done <- errors.BadRequest("admin", "import: %d of the %d bytes announced arrived", got, size)
			return
		}
		done <- f.Sync()
	}()
	timer := time.NewTimer(importReceiveWithin)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		// Returning ends the stream, and with it the receiving goroutine.
		err = errors.Timeout("admin", "import: the file did not arrive within %s", importReceiveWithin)
	}
	return f.Name(), first.GetMerge(), err
}

// importFile copies the micro database at path, a copy the node owns,
// into the cluster, block by block. Without merge a cluster that holds
// data is refused, naming what it holds.
func (n *Node) importFile(ctx context.Context, path string, merge bool) ([]*pb.ImportedBlock, error) {
	if _, err := schema.Check(ctx, path); err != nil {
		return nil, errors.BadRequest("admin", "import: the file is not a micro database that can be read: %v", err)
	}
	// The one open path: a file of an older micro is migrated (it is a
	// copy); one of a newer micro is refused.
	db, err := schema.Open(ctx, path, schema.Options{Migrations: Migrations()})
	if err != nil {
		return nil, errors.PreconditionFailed("admin", "import: %v", err)
	}
	defer db.Close()
	blocks := n.copiers()
	if !merge {
		held, err := heldData(ctx, blocks)
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			return nil, errors.PreconditionFailed("admin", "import: the cluster already holds data (%s); nothing was imported. "+
				"To add the file's state to it, import with --merge: what the cluster lacks is added, what it has is kept as it is",
				strings.Join(held, "; "))
		}
	}
	var out []*pb.ImportedBlock
	for _, b := range blocks {
		copied, kept, err := b.Import(ctx, db)
		if err != nil {
			return nil, errors.ServiceUnavailable("admin", "import: %s (after %s): %v; import again with --merge to finish: what was copied is kept",
				b.name, imported(out), err)
		}
		n.log.Info("cluster import", "block", b.name, "copied", copied, "kept", kept)
		out = append(out, &pb.ImportedBlock{Name: b.name, Copied: int64(copied), Kept: int64(kept)})
	}
	return out, nil
}

// namedCopier is a block that imports and exports, with its name.
type namedCopier struct {
	name string
	stateCopier
}

// copiers are the node's blocks that import and export, in build order.
func (n *Node) copiers() []namedCopier {
	var out []namedCopier
	for _, b := range n.blocks {
		if c, ok := b.block.(stateCopier); ok {
			out = append(out, namedCopier{b.name, c})
		}
	}
	return out
}

// heldData says, block by block, what the cluster holds.
func heldData(ctx context.Context, blocks []namedCopier) ([]string, error) {
	var held []string
	for _, b := range blocks {
		h, err := b.Held(ctx)
		if err != nil {
			return nil, errors.ServiceUnavailable("admin", "import: %s: %v", b.name, err)
		}
		if h != "" {
			held = append(held, b.name+": "+h)
		}
	}
	return held, nil
}

func imported(blocks []*pb.ImportedBlock) string {
	if len(blocks) == 0 {
		return "nothing imported"
	}
	var s []string
	for _, b := range blocks {
		s = append(s, fmt.Sprintf("%s %d copied", b.Name, b.Copied))
	}
	return strings.Join(s, ", ")
}

// importAtStart is --cluster-import: the file at path imported once, when
// the cluster holds no data yet; a cluster that does (a restart after the
// import) is left as it is.
func (n *Node) importAtStart(ctx context.Context, path string) error {
	if path == "" {
		return nil
	}
	if n.cluster == nil {
		return fmt.Errorf("--cluster-import is for a node of a cluster: give --cluster too")
	}
	if err := schema.Idle(path); err != nil {
		return fmt.Errorf("--cluster-import: %w", err)
	}
	held, err := heldData(ctx, n.copiers())
	if err != nil {
		return fmt.Errorf("--cluster-import: %w", err)
	}
	if len(held) > 0 {
		n.log.Info("--cluster-import: the cluster already holds data; nothing imported", "file", path, "held", strings.Join(held, "; "))
		return nil
	}
	// Opening migrates and locks: the node works on a copy, and the file
	// stays as it was.
	tmp, err := copyFile(path, filepath.Dir(n.db.Path()))
	if tmp != "" {
		defer removeDB(tmp)
	}
	if err != nil {
		return fmt.Errorf("--cluster-import: %w", err)
	}
	blocks, err := n.importFile(ctx, tmp, false)
	if err != nil {
		return fmt.Errorf("--cluster-import %s: %w", path, err)
	}
	n.log.Info("--cluster-import: imported", "file", path, "blocks", imported(blocks))
	return nil
}

// copyFile copies src into a new file in dir and returns its path.
func copyFile(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, ".micro-import-*.db")
	if err != nil {
		return "", err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return out.Name(), err
	}
	return out.Name(), out.Sync()
}

// removeDB removes a database file and what SQLite kept beside it.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}
