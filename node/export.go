package node

import (
	"context"
	"fmt"
	"os"
	"strings"

	"micro.dev/micro/backup"
	"micro.dev/micro/schema"
)

// clusterSnapshot is what a backup copies on a node of a cluster: the
// cluster's replicated state exported into a fresh file of an appliance's
// form (exportFile), since the node's own file does not hold it.
type clusterSnapshot struct{ n *Node }

// Path is the node's database: snapshots are staged beside it.
func (s clusterSnapshot) Path() string { return s.n.db.Path() }

func (s clusterSnapshot) Backup(ctx context.Context, dest string) error {
	return s.n.exportFile(ctx, dest)
}

// snapshotSource is what micro backup and --backup-to copy: the node's
// file, or in a cluster the cluster's state.
func (n *Node) snapshotSource() backup.Source {
	if n.cluster == nil {
		return n.db
	}
	return clusterSnapshot{n}
}

// exportFile writes the cluster's replicated state (the blocks that import:
// store, config, auth, events) into a new micro database at dest, which
// must not exist: what an appliance started on it serves, and what micro
// cluster import takes back. Each block is read as it stands when its turn
// comes, not the whole cluster at one instant. Nothing is left at dest on
// failure.
func (n *Node) exportFile(ctx context.Context, dest string) (err error) {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s already exists; choose a new file name", dest)
	}
	db, err := schema.Open(ctx, dest, schema.Options{Migrations: Migrations()})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			removeDB(dest)
		}
	}()
	var done []string
	for _, b := range n.copiers() {
		copied, err := b.Export(ctx, db)
		if err != nil {
			return fmt.Errorf("exporting %s (after %s): %w", b.name, exported(done), err)
		}
		done = append(done, fmt.Sprintf("%s %d", b.name, copied))
	}
	n.log.Debug("cluster exported", "file", dest, "copied", exported(done))
	return nil
}

func exported(done []string) string {
	if len(done) == 0 {
		return "nothing exported"
	}
	return strings.Join(done, ", ")
}

// backupTakenBy is, for --backup-to on a node of a cluster, who takes the
// scheduled backups: the JetStream meta leader, one node at a time as the
// Consul snapshot agent runs on the leader, so a cluster puts one snapshot
// an interval rather than one per node. "" is this node.
func (n *Node) backupTakenBy() func() string {
	if n.cluster == nil {
		return nil
	}
	return func() string {
		switch leader := n.cluster.Quick().MetaLeader; leader {
		case n.id:
			return ""
		case "":
			return "no leader"
		default:
			return leader
		}
	}
}
