// Package handler is the helloworld service's handler, as `micro new`
// writes it.
package handler

import (
	"context"
	"log/slog"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// MaxCount bounds a Stream request.
const MaxCount = 10000

// Helloworld implements pb.HelloworldHandler.
type Helloworld struct{}

// Call greets req.Name. A caller's X-Salutation header (metadata
// x-salutation) replaces "Hello", to show that request headers reach
// handlers.
func (e *Helloworld) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	slog.Info("Received Helloworld.Call request", "name", req.Name)
	salutation := "Hello"
	if s, ok := metadata.Get(ctx, "x-salutation"); ok && s != "" {
		salutation = s
	}
	rsp.Msg = salutation + " " + req.Name
	return nil
}

// Stream sends req.Count messages counting up from 0.
func (e *Helloworld) Stream(ctx context.Context, req *pb.StreamingRequest, stream pb.Helloworld_StreamStream) error {
	slog.Info("Received Helloworld.Stream request", "count", req.Count)
	if req.Count < 0 || req.Count > MaxCount {
		return errors.BadRequest("helloworld", "count must be between 0 and %d, not %d", MaxCount, req.Count)
	}
	for i := int64(0); i < req.Count; i++ {
		if err := stream.Send(&pb.StreamingResponse{Count: i}); err != nil {
			return err
		}
	}
	return nil
}

// PingPong answers each ping with a pong of the same stroke until the
// caller stops.
func (e *Helloworld) PingPong(ctx context.Context, stream pb.Helloworld_PingPongStream) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		slog.Info("Got ping", "stroke", req.Stroke)
		if err := stream.Send(&pb.Pong{Stroke: req.Stroke}); err != nil {
			return err
		}
	}
}
