package node

import (
	"log/slog"
	"runtime/debug"

	"micro.dev/micro/internal/gcpercent"
)

// releaseStartupMemory hands what only starting needed back to the
// operating system at once, and an idle server's RSS is what people size
// machines by.
//
// The heap: the garbage of starting (argon2id's 19 MiB per password hash,
// migrations, caches filled once). Left to the runtime, the heap grown for
// it stays resident for minutes while an idle server makes too little
// garbage to need it.
//
// The binary's own pages (releaseBinaryPages): package initialisers,
// migrations and the stack walks of growing goroutine stacks touch most of
// the executable's code and read-only data once, and the kernel maps at
// least 64 KiB around every first touch, so a started server had about
// 29 MB of the 43 MB file mapped, where an idle one maps back 11 MB, and
// 18 MB once a periodic garbage collection has read the live heap's types.
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	n, err := releaseBinaryPages()
	if err != nil {
		log.Debug("could not unmap the binary's start-up pages", "err", err)
		return
	}
	log.Debug("released start-up memory", "binary_bytes_unmapped", n)
}

// paceGC starts gcpercent with Config.PaceGC. It runs once started, so
// the garbage of starting is collected at Go's default percent and
// released (releaseStartupMemory) rather than left to grow the heap.
func (n *Node) paceGC(cfg Config) {
	if cfg.PaceGC {
		n.stopPacingGC = gcpercent.Start()
	}
}
