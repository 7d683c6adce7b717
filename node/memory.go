package node

import (
	"runtime/debug"

	"micro.dev/micro/internal/gcpercent"
)

// releaseStartupMemory hands the garbage of starting (argon2id's 19 MiB
// per password hash, migrations, caches filled once) back to the operating
// system at once. Left to the runtime, the heap grown for it stays
// resident for minutes while an idle server makes too little garbage to
// need it, and an idle server's RSS is what people size machines by.
func releaseStartupMemory() { debug.FreeOSMemory() }

// paceGC starts gcpercent with Config.PaceGC. It runs once started, so
// the garbage of starting is collected at Go's default percent and
// released (releaseStartupMemory) rather than left to grow the heap.
func (n *Node) paceGC(cfg Config) {
	if cfg.PaceGC {
		n.stopPacingGC = gcpercent.Start()
	}
}
