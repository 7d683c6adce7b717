package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
)

// wsPingInterval is how often an open websocket is pinged, so proxies and
// NATs in between keep it open and a vanished client is noticed.
const wsPingInterval = 15 * time.Second

// isWebsocket reports a websocket upgrade request.
func isWebsocket(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// streamWebsocket makes a streaming call over a websocket, as Micro's
// gateway did: the first message is the request, every later message is
// sent into the stream, and every reply is a message back (text for JSON,
// binary otherwise). Any origin may connect and any subprotocol the client
// offers is accepted, since auth rules, not the browser, decide access.
//
// When the call ends the socket closes normally; when it fails, the error
// JSON is the last message and the close code is 4000 + the error's HTTP
// code (4404, 4500, ...), the reason its detail.
func (g *Gateway) streamWebsocket(ctx context.Context, w http.ResponseWriter, r *http.Request, c *call, route Route) {
	// The hijacked connection keeps the server's deadlines unless lifted:
	// reads and writes here carry their own.
	streamDeadlines(w)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		Subprotocols:       offeredProtocols(r),
	})
	if err != nil {
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	conn.SetReadLimit(g.cfg.MaxBodyBytes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	kind := websocket.MessageText
	if c.Subtype != codec.JSON {
		kind = websocket.MessageBinary
	}
	// A client that opens a socket and says nothing is let go.
	fctx, fcancel := context.WithTimeout(ctx, g.cfg.ReadTimeout)
	_, first, err := conn.Read(fctx)
	fcancel()
	if err != nil {
		if fctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			conn.Close(websocket.StatusPolicyViolation, "no request within "+g.cfg.ReadTimeout.String())
		}
		return // the client left, or said nothing in time
	}
	if c.Subtype == codec.JSON {
		if err := checkObject(first); err != nil {
			g.wsFail(ctx, conn, r, errors.FromError(err, apiID))
			return
		}
		if len(strings.TrimSpace(string(first))) == 0 {
			first = []byte("{}")
		}
	}

	desc := &grpc.StreamDesc{ServerStreams: route.ServerStream, ClientStreams: route.ClientStream}
	stream, err := route.Conn.NewStream(ctx, desc, c.Method, grpc.CallContentSubtype(c.Subtype))
	if err != nil {
		g.wsFail(ctx, conn, r, callError(err))
		return
	}
	if err := stream.SendMsg(&codec.Frame{Data: first}); err != nil && err != io.EOF {
		g.wsFail(ctx, conn, r, callError(err))
		return
	}
	if route.ClientStream {
		// Later messages go into the stream; the client closing its side
		// ends the request stream.
		go func() {
			for {
				_, msg, err := conn.Read(ctx)
				if err != nil {
					stream.CloseSend()
					return
				}
				if err := stream.SendMsg(&codec.Frame{Data: msg}); err != nil {
					return
				}
			}
		}()
	} else {
		stream.CloseSend()
		// Nothing more is read from the client, but its control frames
		// (pings, close) still are; its close cancels the call.
		ctx = conn.CloseRead(ctx)
	}
	go g.wsPing(ctx, conn, cancel)

	for {
		var msg codec.Frame
		err := stream.RecvMsg(&msg)
		if err == io.EOF {
			conn.Close(websocket.StatusNormalClosure, "")
			return
		}
		if err != nil {
			if ctx.Err() != nil {
				return // the client went away
			}
			g.wsFail(ctx, conn, r, callError(err))
			return
		}
		if err := g.wsWrite(ctx, conn, kind, msg.Data); err != nil {
			return
		}
	}
}

// wsWrite sends one message, within WriteTimeout: a client that stops
// reading is let go.
func (g *Gateway) wsWrite(ctx context.Context, conn *websocket.Conn, kind websocket.MessageType, b []byte) error {
	if g.cfg.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.WriteTimeout)
		defer cancel()
	}
	return conn.Write(ctx, kind, b)
}

// wsFail sends e as the last message and closes with 4000 + its code.
func (g *Gateway) wsFail(ctx context.Context, conn *websocket.Conn, r *http.Request, e *errors.Error) {
	logError(g.log, r, e)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	conn.Write(wctx, websocket.MessageText, []byte(e.Error()))
	code := websocket.StatusCode(4000 + e.Code)
	if e.Code < 100 || e.Code > 999 {
		code = websocket.StatusInternalError
	}
	reason := e.Detail
	if len(reason) > 120 { // a close reason is at most 123 bytes
		reason = reason[:120]
	}
	conn.Close(code, reason)
}

// wsPing pings the client until ctx ends; a client that stops answering
// ends the call.
func (g *Gateway) wsPing(ctx context.Context, conn *websocket.Conn, cancel context.CancelFunc) {
	t := time.NewTicker(wsPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, wsPingInterval)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil {
			cancel()
			return
		}
	}
}

// offeredProtocols lists the subprotocols the client offers; the first is
// echoed back, as Micro's gateway did.
func offeredProtocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
