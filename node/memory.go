package node

import "runtime/debug"

// releaseStartupMemory hands the garbage of starting (argon2id's 19 MiB
// per password hash, migrations, caches filled once) back to the operating
// system at once. Left to the runtime, the heap grown for it stays
// resident for minutes while an idle server makes too little garbage to
// need it, and an idle server's RSS is what people size machines by.
func releaseStartupMemory() { debug.FreeOSMemory() }
