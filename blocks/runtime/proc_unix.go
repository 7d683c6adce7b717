//go:build unix && !linux

package runtime

import (
	"os/exec"
	"syscall"
)

// procAttr puts the child in its own process group. Without Linux's
// Pdeathsig, a child outlives a server killed by SIGKILL until the next
// server's reapLeftovers stops it.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

// ownsGroup cannot tell whose group pgid is without /proc; a live group
// recorded by the previous run is taken to be its own.
func ownsGroup(pgid int, _ string) bool { return groupAlive(pgid) }

func terminateGroup(p *proc) { syscall.Kill(-p.pgid, syscall.SIGTERM) }
func killGroup(p *proc)      { syscall.Kill(-p.pgid, syscall.SIGKILL) }
func signalGroup(pgid int, sig syscall.Signal) error {
	return syscall.Kill(-pgid, sig)
}

// startCmd starts cmd, passing it no descriptor but 0, 1 and 2.
func startCmd(cmd *exec.Cmd) error {
	closeInherited()
	return cmd.Start()
}

// guardServer has no portable way to hide the server's process from
// processes of its user; see the README.
func guardServer() error { return nil }
