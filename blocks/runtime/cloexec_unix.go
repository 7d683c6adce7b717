//go:build unix

package runtime

import (
	"os"
	"strconv"
	"syscall"
)

// closeInherited marks every descriptor above stderr close-on-exec, so the
// programs the runtime starts get only stdin, stdout and stderr. Go opens
// its own files close-on-exec, but descriptors the server inherited (from
// a shell, a supervisor, a test harness) are open across exec, and so
// would be a service's: a door to whatever they lead to. Called before
// each start; the server itself keeps them.
func closeInherited() {
	// /dev/fd lists this process's descriptors on Linux and the BSDs; the
	// descriptor reading it is close-on-exec already.
	entries, err := os.ReadDir("/dev/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
