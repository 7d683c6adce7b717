// Command configwatch follows configwatch.greeting with config.Watch: it
// prints each value it sees ("configwatch.greeting = <json>") and serves
// them on Configwatch.Seen. Run several and `micro config set
// configwatch.greeting '"Hi"'`: every one sees every change, in order,
// without a restart.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"micro.dev/micro/framework/config"
	"micro.dev/micro/framework/service"
)

// Path is the config path the service follows.
const Path = "configwatch.greeting"

// Configwatch serves what the watcher saw.
type Configwatch struct {
	mu     sync.Mutex
	seen   []string
	latest config.Value
}

// SeenRequest is empty.
type SeenRequest struct{}

// SeenResponse lists the values seen, as JSON text, oldest first; Greeting
// is the latest as a string ("" when it is not one).
type SeenResponse struct {
	Greeting string   `json:"greeting"`
	Seen     []string `json:"seen"`
}

// Seen returns the values seen so far.
func (c *Configwatch) Seen(ctx context.Context, req *SeenRequest, rsp *SeenResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rsp.Seen = append([]string(nil), c.seen...)
	if c.latest != nil {
		rsp.Greeting = c.latest.String("")
	}
	return nil
}

func (c *Configwatch) watch(w *config.Watcher) {
	for {
		v, err := w.Next()
		if err != nil {
			slog.Info("watch ended", "err", err)
			return
		}
		c.mu.Lock()
		c.seen = append(c.seen, v.JSON())
		c.latest = v
		c.mu.Unlock()
		fmt.Printf("%s = %s\n", Path, v.JSON())
	}
}

func main() {
	srv := service.New(service.Name("configwatch"))
	h := new(Configwatch)
	if err := srv.Handle(h); err != nil {
		slog.Error("registering the handler", "err", err)
		os.Exit(1)
	}
	// service.New made the service's client the default: config.Watch
	// reads the service's namespace through it.
	w, err := config.Watch(Path)
	if err != nil {
		slog.Error("watching "+Path, "err", err)
		os.Exit(1)
	}
	go h.watch(w)
	if err := srv.Run(); err != nil {
		slog.Error("configwatch stopped", "err", err)
		os.Exit(1)
	}
	w.Stop()
}
