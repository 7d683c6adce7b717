// Command micro is the micro platform in one binary: the server and the CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"micro.dev/micro/cli"
)

func main() {
	// Cancelling ctx is how `micro server` learns to shut down in order, and
	// how a CLI call in flight is abandoned.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
