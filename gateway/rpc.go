package gateway

import (
	"bytes"
	"context"
	stderrors "errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/tracing"
)

// serveCall answers a request naming a service: build the call, route it,
// then make it unary or streaming as the route says.
func (g *Gateway) serveCall(w http.ResponseWriter, r *http.Request) {
	c, err := g.newCall(r)
	if err != nil {
		g.fail(w, r, errors.FromError(err, apiID))
		return
	}

	// A unary call is bounded by its Timeout header, else Config.Timeout;
	// routing by the shorter of the two. When the call's bound is the
	// routing's too (the common case), one context serves both.
	timeout := c.Timeout
	if timeout == 0 {
		timeout = g.cfg.Timeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(timeout, g.cfg.Timeout))
	defer cancel()
	route, err := g.route(ctx, c)
	if err != nil {
		g.fail(w, r, errors.FromError(err, apiID))
		return
	}
	if route.Conn == nil {
		g.fail(w, r, errors.InternalServerError(apiID, "router returned no connection for %s %s", c.Service, c.Endpoint))
		return
	}
	noteRouted(r, c.Service, c.Namespace)
	if stream := route.ServerStream || route.ClientStream; stream || timeout > g.cfg.Timeout {
		// A stream without a Timeout header is bounded only by the
		// client's connection, since it may be long-lived; a call with
		// a Timeout header longer than Config.Timeout gets all of it.
		cancel()
		ctx, cancel = context.WithCancel(r.Context())
		defer cancel()
		if c.Timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, c.Timeout)
			defer cancel()
		}
	}

	if g.cfg.Tracer != nil {
		tracing.Inject(ctx, c.Metadata) // the callee's parent is the gateway's span
	}
	ctx = grpcmd.NewOutgoingContext(ctx, c.Metadata)
	if route.ServerStream || route.ClientStream {
		if isWebsocket(r) {
			// Same call, the first websocket message being the request.
			g.streamWebsocket(ctx, w, r, c, route)
			return
		}
		g.streamHTTP(ctx, w, r, c, route)
		return
	}
	if isWebsocket(r) {
		g.fail(w, r, badRequest("%s of %s does not stream; call it without a websocket", c.Endpoint, c.Service))
		return
	}
	g.callDeadlines(w, timeout)
	var reply codec.Frame
	err = route.Conn.Invoke(ctx, c.Method, &codec.Frame{Data: c.Body}, &reply, grpc.CallContentSubtype(c.Subtype))
	if err != nil {
		g.fail(w, r, callError(err))
		return
	}
	writeReply(w, c, reply.Data)
}

// route asks the Router where c goes. A versioned path (/v1/foo/bar) whose
// versioned service (v1.foo) is not there falls back to the service itself
// (foo): micro-js-client posts every call to /v1/{service}/{endpoint}.
func (g *Gateway) route(ctx context.Context, c *call) (Route, error) {
	route, err := g.cfg.Router.Route(ctx, c.Namespace, c.Service, c.Endpoint)
	if err == nil || c.Version == "" || !errors.IsServiceNotFound(err) {
		return route, err
	}
	service := strings.TrimPrefix(c.Service, c.Version+".")
	fallback, ferr := g.cfg.Router.Route(ctx, c.Namespace, service, c.Endpoint)
	if ferr != nil {
		if errors.IsServiceNotFound(ferr) {
			return route, err // name the service the path asked for
		}
		return fallback, ferr
	}
	c.Service, c.Method = service, client.FullMethod(service, c.Endpoint)
	return fallback, nil
}

// streamHTTP makes a streaming call over plain HTTP: the request is sent
// once, then each reply is written and flushed as it arrives (chunked). A
// client-streaming endpoint thus gets a one-message stream and answers
// like a unary call.
func (g *Gateway) streamHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request, c *call, route Route) {
	desc := &grpc.StreamDesc{ServerStreams: route.ServerStream, ClientStreams: route.ClientStream}
	stream, err := route.Conn.NewStream(ctx, desc, c.Method, grpc.CallContentSubtype(c.Subtype))
	if err != nil {
		g.fail(w, r, callError(err))
		return
	}
	// io.EOF from SendMsg means the server already ended the stream; its
	// status comes from RecvMsg below.
	if err := stream.SendMsg(&codec.Frame{Data: c.Body}); err != nil && err != io.EOF {
		g.fail(w, r, callError(err))
		return
	}
	if err := stream.CloseSend(); err != nil {
		g.fail(w, r, callError(err))
		return
	}

	if !route.ServerStream {
		var reply codec.Frame
		if err := stream.RecvMsg(&reply); err != nil {
			g.fail(w, r, callError(err))
			return
		}
		writeReply(w, c, reply.Data)
		return
	}

	rc := streamDeadlines(w)
	started := false
	for {
		var msg codec.Frame
		err := stream.RecvMsg(&msg)
		if err == io.EOF {
			break
		}
		if err != nil {
			e := callError(err)
			if !started {
				// Nothing sent yet, so the status can still say it.
				g.fail(w, r, e)
				return
			}
			// Headers are gone: the error is the stream's last message,
			// in the same error JSON a client already knows.
			logError(g.log, r, e)
			g.writeDeadline(rc)
			w.Write(append([]byte(e.Error()), '\n'))
			return
		}
		g.writeDeadline(rc)
		if !started {
			// Headers wait for the first message so that an error that
			// comes first still gets its status.
			started = true
			w.Header().Set("Content-Type", c.ContentType)
			w.WriteHeader(http.StatusOK)
		}
		w.Write(msg.Data)
		if c.Subtype == codec.JSON {
			// One JSON message per line: what curl users and line
			// readers want, and still a valid JSON sequence.
			w.Write([]byte{'\n'})
		}
		if err := rc.Flush(); err != nil && !stderrors.Is(err, http.ErrNotSupported) {
			return // the client went away; cancel ends the stream
		}
	}
	if !started {
		w.Header().Set("Content-Type", c.ContentType)
		w.WriteHeader(http.StatusOK)
	}
}

// writeReply answers with a unary reply: the service's bytes as they came,
// or 204 when the reply is empty.
func writeReply(w http.ResponseWriter, c *call, data []byte) {
	if isEmpty(data, c.Subtype) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("Content-Type", c.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// isEmpty reports a reply with nothing in it: no bytes, or for JSON an
// empty object (a message with no fields, such as Store.Write's).
func isEmpty(data []byte, subtype string) bool {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return true
	}
	if subtype != codec.JSON || len(t) < 2 || len(t) > 64 || t[0] != '{' || t[len(t)-1] != '}' {
		return false
	}
	return len(bytes.TrimSpace(t[1:len(t)-1])) == 0
}

// fail answers with e and logs it when it is the server's fault.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, e *errors.Error) {
	logError(g.log, r, e)
	writeError(w, e)
}
