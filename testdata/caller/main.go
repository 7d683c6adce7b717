// Command caller calls helloworld every second through its generated
// client and prints each reply: the seed README's "Call via RPC", with
// the package-level service.Run() that runs the service New made.
// CALLER_INTERVAL (a Go duration) changes the pace.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"micro.dev/micro/framework/service"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

func callService(ctx context.Context, hw pb.HelloworldService, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rsp, err := hw.Call(ctx, &pb.Request{Name: "John"})
		if err != nil {
			fmt.Println("Error calling helloworld: ", err)
		} else {
			fmt.Println("Response: ", rsp.Msg)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func main() {
	every := time.Second
	if v := os.Getenv("CALLER_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			slog.Error("CALLER_INTERVAL must be a positive Go duration", "value", v)
			os.Exit(1)
		}
		every = d
	}

	srv := service.New(service.Name("caller"))
	hw := pb.NewHelloworldService("helloworld", srv.Client())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go callService(ctx, hw, every)

	// run the service: the one service.New made, as in the README
	service.Run()
}
