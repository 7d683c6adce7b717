// Command helloworld is the service `micro new helloworld` writes: Call,
// Stream and PingPong on the Helloworld handler. Run it next to a micro
// server (go run ./testdata/helloworld); MICRO_PROXY points it at another.
package main

import (
	"log/slog"
	"os"

	"micro.dev/micro/framework/service"
	"micro.dev/micro/testdata/helloworld/handler"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

func main() {
	srv := service.New(
		service.Name("helloworld"),
		service.Version("latest"),
	)
	if err := pb.RegisterHelloworldHandler(srv.Server(), new(handler.Helloworld)); err != nil {
		slog.Error("registering the handler", "err", err)
		os.Exit(1)
	}
	if err := srv.Run(); err != nil {
		slog.Error("helloworld stopped", "err", err)
		os.Exit(1)
	}
}
