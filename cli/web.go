package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/gateway/dashboard"
)

// webCommand is `micro web`: the dashboard alone, for a gateway that runs
// elsewhere (Micro's `micro web`). The page calls the gateway from the
// browser, so this process needs no credentials and holds none.
func (a *app) webCommand() *ffcli.Command {
	const path = "micro web"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	addr := fs.String("address", ":8082", "dashboard listen `address`; :0 picks a free port")
	api := fs.String("api", ":8080", "the HTTP API gateway: a `URL` (https://api.example.com), or a listen address whose port is used on the page's own host")
	return a.leaf("web", path+" [--address :8082] [--api URL]", "Serve the web dashboard alone, against a gateway elsewhere", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q", args[0])
		}
		h := dashboard.New(dashboard.Config{APIAddress: func() string { return *api }, Version: Version})
		if err := dashboard.CheckAPIAddress(*api); err != nil {
			return usageErrorf(path, "--api: %v", err)
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return exitf(exitFailure, "micro web: %v", err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
		fmt.Fprintf(a.stderr, "micro web: the dashboard is on http://%s (API %s)\n", ln.Addr(), *api)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		select {
		case err := <-done:
			return exitf(exitFailure, "micro web: %v", err)
		case <-ctx.Done():
		}
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return exitf(exitFailure, "micro web: %v", err)
		}
		return nil
	})
}
