//go:build !linux

package node

// releaseBinaryPages unmaps the executable's start-up pages on Linux only
// (memory_linux.go); elsewhere it releases nothing.
func releaseBinaryPages() (int64, error) { return 0, nil }
