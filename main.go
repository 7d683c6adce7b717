// Command micro is the micro platform in one binary: the server and the CLI.
package main

import (
	"context"
	"embed"
	"os"
	"os/signal"
	"syscall"

	"micro.dev/micro/cli"
)

// module is this module's go.mod and go.sum: micro new copies the
// framework's dependency versions and hashes from them.
//
//go:embed go.mod go.sum
var module embed.FS

func main() {
	cli.Module = module
	// Cancelling ctx is how `micro server` learns to shut down in order, and
	// how a CLI call in flight is abandoned.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
