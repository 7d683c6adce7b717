//go:build !unix

package runtime

import (
	"os/exec"
	"syscall"
)

// Without process groups (Windows), the runtime stops the process it
// started; whatever that process started itself is not tracked.
func procAttr() *syscall.SysProcAttr { return nil }

func groupAlive(int) bool                   { return false }
func ownsGroup(int, string) bool            { return false }
func terminateGroup(p *proc)                { p.cmd.Process.Kill() }
func killGroup(p *proc)                     { p.cmd.Process.Kill() }
func signalGroup(int, syscall.Signal) error { return nil }

// startCmd starts cmd.
func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

// closeInherited has nothing to do without inherited descriptors to mark.
func closeInherited() {}

// guardServer has nothing to guard without Unix processes of one user.
func guardServer() error { return nil }
