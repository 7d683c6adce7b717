package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
)

// proc is one running process of a service, the leader of its own process
// group: everything it starts is in the group, and stopping the service
// signals the whole group.
type proc struct {
	cmd      *exec.Cmd
	bin, dir string
	instance string
	pgid     int
	started  time.Time
	// done is closed once the process has exited and been waited for; err
	// then holds how it ended.
	done chan struct{}
	err  error
	// registered is set once WaitReady has seen the process registered.
	registered atomic.Bool
}

// procSpec is what startProcess runs.
type procSpec struct {
	bin, dir string
	env      []string
	instance string
	// output receives the process's stdout and stderr, one reader each; it
	// must read until EOF.
	output func(stream string, f *os.File)
}

// startProcess starts spec's binary in a new process group. On Linux the
// process is also killed when the server dies (Pdeathsig), so even kill -9
// of the server leaves no orphan leader; members it started are stopped by
// the next server's reapLeftovers.
func startProcess(spec procSpec) (*proc, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command(spec.bin)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = procAttr()
	err = startCmd(cmd)
	// The child holds its own copies; ours must go so the readers see EOF
	// once every process of the group has closed them.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, bin: spec.bin, dir: spec.dir, instance: spec.instance, pgid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go spec.output(StreamStdout, outR)
	go spec.output(StreamStderr, errR)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: SIGTERM, then SIGKILL for whatever is left
// after grace. It returns once the leader has been waited for and no member
// of the group is left (or, for a member that will not die, after a bound).
func (p *proc) stop(grace time.Duration) {
	terminateGroup(p)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if p.exited() && !groupAlive(p.pgid) {
			return
		}
		select {
		case <-p.done:
			time.Sleep(20 * time.Millisecond) // polling the rest of the group
		case <-time.After(20 * time.Millisecond):
		}
	}
	killGroup(p)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	for i := 0; i < 100 && groupAlive(p.pgid); i++ {
		killGroup(p)
		time.Sleep(20 * time.Millisecond)
	}
}

// exitReason describes how a process ended.
func exitReason(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String() // "exit status 1", "signal: killed"
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *proc) String() string { return fmt.Sprintf("pid %d", p.pgid) }
