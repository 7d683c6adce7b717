package runtime

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// procAttr puts the child in its own process group and has the kernel kill
// it when the server dies, even by SIGKILL.
//
// Pdeathsig fires when the thread that forked the child exits, not the
// process; Go ends a thread when a goroutine locked to it exits. So every
// child is started by startCmd from one goroutine locked to its thread for
// the life of the server, whose thread never ends.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

var (
	spawnOnce sync.Once
	spawns    chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startCmd starts cmd from the spawner's thread.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawns = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for req := range spawns {
				closeInherited()
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawns <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// groupMembers returns the live (not zombie) processes of group pgid, read
// from /proc. A zombie member waits only for its parent to reap it and can
// no longer run, so it does not count.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		if syscall.Kill(-pgid, 0) == nil {
			return []int{pgid}
		}
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

func groupAlive(pgid int) bool { return len(groupMembers(pgid)) > 0 }

// ownsGroup reports whether group pgid still holds a process the runtime
// started as instance: after a reboot the number may belong to another
// program, which must not be killed.
func ownsGroup(pgid int, instance string) bool {
	want := []byte("MICRO_INSTANCE_ID=" + instance)
	for _, pid := range groupMembers(pgid) {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				return true
			}
		}
	}
	return false
}

func terminateGroup(p *proc) { syscall.Kill(-p.pgid, syscall.SIGTERM) }
func killGroup(p *proc)      { syscall.Kill(-p.pgid, syscall.SIGKILL) }
func signalGroup(pgid int, sig syscall.Signal) error {
	return syscall.Kill(-pgid, sig)
}

// guardServer makes the server process non-dumpable. Services run as the
// server's user, and a process of the same user may otherwise read the
// server's /proc entries (its environment with MICRO_ADMIN_PASSWORD, its
// open files, its memory) and attach a debugger to it; non-dumpable, those
// belong to root. The server's own files on disk are another matter: see
// the README's "Operations: running services safely".
func guardServer() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
