package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// reapLeftovers stops the process groups a previous run recorded and never
// saw end: that server was killed (kill -9, OOM, power cut) before it could
// stop them. On Linux the leaders died with it (Pdeathsig); what they
// started may not have. A group is signalled only if it still holds a
// process carrying the recorded instance id, so a number reused by another
// program after a reboot is left alone.
func (r *Runtime) reapLeftovers(ctx context.Context) {
	procs, err := r.backend.Processes(ctx)
	if err != nil {
		r.log.Warn("runtime: reading leftover processes failed", "err", err)
		return
	}
	for _, p := range procs {
		if ownsGroup(p.PGID, p.Instance) {
			r.log.Warn("runtime: stopping a process group left by the previous server", "service", p.Key.String(), "pgid", p.PGID)
			signalGroup(p.PGID, syscall.SIGTERM)
			deadline := time.Now().Add(min(r.cfg.StopGrace, 5*time.Second))
			for groupAlive(p.PGID) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if groupAlive(p.PGID) {
				signalGroup(p.PGID, syscall.SIGKILL)
			}
			r.logs.note(p.Key, p.Instance, fmt.Sprintf("[runtime] stopped process group %d left running by the previous server", p.PGID))
		}
		if err := r.backend.RemoveProcess(ctx, p.PGID); err != nil {
			r.log.Warn("runtime: forgetting leftover process failed", "pgid", p.PGID, "err", err)
		}
	}
}
