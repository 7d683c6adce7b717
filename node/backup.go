package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"micro.dev/micro/backup"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/admin"
)

// backups are the node's scheduled backups (Config.BackupTo).
type backups struct {
	*backup.Scheduler
	dest backup.Destination
	stop func() // ends the schedule, waiting for a backup under way to stop
}

// startBackups opens the backup destination and starts the schedule (in a
// cluster on every node, the one that leads taking them: export.go); a
// destination that cannot be named refuses the start, one that cannot be
// reached is a failed backup, retried. It also removes what a backup
// staged beside the database before a crash.
func (n *Node) startBackups(cfg Config) error {
	if cfg.BackupTo == "" {
		return nil
	}
	dest, err := backup.Open(cfg.BackupTo)
	if err != nil {
		return fmt.Errorf("--backup-to (MICRO_BACKUP_TO): %w", err)
	}
	sched, err := backup.New(backup.Config{DB: n.snapshotSource(), To: dest, Every: cfg.BackupEvery, Keep: cfg.BackupKeep,
		Logger: n.log, TakenBy: n.backupTakenBy()})
	if err != nil {
		return err
	}
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(n.db.Path()), backup.StagePrefix+"*"))
	for _, dir := range stale {
		os.RemoveAll(dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	n.backups = &backups{Scheduler: sched, dest: dest, stop: func() { cancel(); <-done }}
	n.metrics.WatchBackups(sched)
	n.log.Info("backups scheduled", "to", dest.String(), "every", cfg.BackupEvery, "keep", cfg.BackupKeep)
	return nil
}

// stopBackups ends the schedule; a backup under way is abandoned.
func (n *Node) stopBackups() {
	if n.backups != nil {
		n.backups.stop()
	}
}

// backupHealth is GET /health's detail on backups: a failing backup shows
// there without making the node unready (it still serves).
func (n *Node) backupHealth() map[string]any {
	if n.backups == nil {
		return nil
	}
	st := n.backups.Status()
	b := map[string]any{"status": "ok", "destination": st.Destination, "failures": st.Failures}
	switch {
	case st.Standby != "" && !st.Failing():
		b["status"] = "standby"
		b["taken_by"] = st.Standby
	case st.Failing():
		b["status"] = "failing"
		b["error"] = st.LastError
		b["failed_at"] = st.LastErrorAt.UTC().Format(time.RFC3339)
	case st.LastSuccess.IsZero():
		b["status"] = "pending"
	}
	if !st.LastSuccess.IsZero() {
		b["last_success"] = st.LastSuccess.UTC().Format(time.RFC3339)
	}
	if !st.Next.IsZero() {
		b["next"] = st.Next.UTC().Format(time.RFC3339)
	}
	return map[string]any{"backup": b}
}

// Backups reports the schedule, its last results and the snapshots at the
// destination. Like Backup, it is for administrators of namespace micro.
func (a *admin) Backups(ctx context.Context, _ *pb.BackupsRequest) (*pb.BackupsResponse, error) {
	if err := a.node.authz.Check(ctx, metadata.DefaultNamespace, true); err != nil {
		return nil, err
	}
	b := a.node.backups
	if b == nil {
		return &pb.BackupsResponse{}, nil
	}
	st := b.Status()
	rsp := &pb.BackupsResponse{
		Scheduled:    true,
		Destination:  st.Destination,
		EverySeconds: int64(st.Every / time.Second),
		Keep:         int32(st.Keep),
		Running:      st.Running,
		Next:         unixNano(st.Next),
		LastAttempt:  unixNano(st.LastAttempt),
		LastSuccess:  unixNano(st.LastSuccess),
		LastError:    st.LastError,
		LastErrorAt:  unixNano(st.LastErrorAt),
		Standby:      st.Standby,
		Successes:    st.Successes,
		Failures:     st.Failures,
	}
	entries, err := backup.List(ctx, b.dest)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errors.FromError(ctx.Err(), "admin")
		}
		rsp.ListError = err.Error()
	}
	for _, e := range entries {
		rsp.Snapshots = append(rsp.Snapshots, &pb.Snapshot{
			Name: e.Name, Size: e.Size, Taken: unixNano(e.Taken), Integrity: e.Integrity,
		})
	}
	return rsp, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
