package tracing

import (
	"context"
	"errors"
	"io"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ClientStream returns cs with span ended when the stream ends rather than
// when it opened: at the status RecvMsg reads (io.EOF is a clean end, any
// other error the stream's failure), at a failed Header or SendMsg, or when
// ctx (the stream's own) ends first, as it does when the caller closes the
// stream or stops reading. A deadline that ends it is a failure; a caller
// cancelling is not (it is marked micro.stream.cancelled). context.AfterFunc
// watches ctx without a goroutine of its own until it fires.
func ClientStream(ctx context.Context, cs grpc.ClientStream, span trace.Span) grpc.ClientStream {
	s := &clientStream{ClientStream: cs, ctx: ctx, span: span}
	// The registration is not stopped when the stream ends first: the
	// stream's context always ends soon after (its owner cancels it), and
	// then the callback finds the span ended.
	context.AfterFunc(ctx, func() {
		var err error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = ctx.Err()
		} else {
			span.SetAttributes(attribute.Bool("micro.stream.cancelled", true))
		}
		s.end(err)
	})
	return s
}

type clientStream struct {
	grpc.ClientStream
	ctx  context.Context
	span trace.Span
	once sync.Once
}

func (s *clientStream) end(err error) {
	s.once.Do(func() {
		switch {
		case err == io.EOF:
			err = nil
		case status.Code(err) == codes.Canceled && s.ctx.Err() == context.Canceled:
			// The caller closed the stream while a read was waiting.
			s.span.SetAttributes(attribute.Bool("micro.stream.cancelled", true))
			err = nil
		}
		End(s.span, err)
	})
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.end(err)
	}
	return err
}

// SendMsg's io.EOF says the server ended the stream; RecvMsg reads how.
func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.end(err)
	}
	return err
}

func (s *clientStream) Header() (grpcmd.MD, error) {
	h, err := s.ClientStream.Header()
	if err != nil {
		s.end(err)
	}
	return h, err
}
