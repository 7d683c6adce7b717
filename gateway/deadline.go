package gateway

import (
	"net/http"
	"time"
)

// The node's http.Server bounds each request with read and write timeouts
// counted from its start (Config.ReadTimeout, Config.WriteTimeout), which
// fits a plain call. Once a request's body is read, the gateway moves the
// connection's deadlines to fit what the request is:
//
//   - a call: no read deadline (the body is in), and the answer may be
//     written until the call's own timeout plus WriteTimeout, so a call
//     given a long Timeout header is not cut off;
//   - a stream (SSE, a streamed reply, a websocket): no deadline between
//     messages, and WriteTimeout for each message written, so a client that
//     stops reading is let go while a quiet stream stays open.
//
// The controller may not support deadlines (a test's recorder): then the
// server's own bounds stand.

// callDeadlines sets the deadlines of a call that may take timeout.
func (g *Gateway) callDeadlines(w http.ResponseWriter, timeout time.Duration) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	if g.cfg.WriteTimeout > 0 {
		rc.SetWriteDeadline(time.Now().Add(timeout + g.cfg.WriteTimeout))
	}
}

// streamDeadlines lifts the deadlines of a stream; its writes set their
// own (writeDeadline).
func streamDeadlines(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	return rc
}

// writeDeadline bounds the next write of a stream.
func (g *Gateway) writeDeadline(rc *http.ResponseController) {
	if g.cfg.WriteTimeout > 0 {
		rc.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
	}
}
