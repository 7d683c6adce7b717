// Command version prints its Version every 100ms until SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Version is what tests edit to see a rebuild take effect.
const Version = "v1"

func main() {
	fmt.Printf("version %s started pid=%d\n", Version, os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	t := time.NewTicker(100 * time.Millisecond)
	for {
		select {
		case <-sig:
			fmt.Printf("version %s stopping\n", Version)
			return
		case <-t.C:
			fmt.Printf("version %s\n", Version)
		}
	}
}
