package gateway

import (
	"context"
	stderrors "errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/errors"
)

// apiID is the id of errors the gateway itself raises, as in Micro.
const apiID = "go.micro.api"

func badRequest(format string, a ...any) *errors.Error {
	return errors.BadRequest(apiID, format, a...)
}

func pathError(format string, a ...any) error {
	return badRequest(format, a...)
}

// callError turns what a call returned into the micro error the client sees.
// Micro errors and gRPC statuses keep their meaning (errors.FromError);
// gRPC's own "unknown service/method" becomes a 404, since to an HTTP client
// a missing endpoint is a missing resource; anything else is a gateway fault.
func callError(err error) *errors.Error {
	var me *errors.Error
	if stderrors.As(err, &me) {
		return me
	}
	if stderrors.Is(err, context.DeadlineExceeded) || stderrors.Is(err, context.Canceled) {
		return errors.FromError(err, apiID)
	}
	if st, ok := status.FromError(err); ok {
		msg := st.Message()
		if st.Code() == codes.Unimplemented && (strings.HasPrefix(msg, "unknown service ") || strings.HasPrefix(msg, "unknown method ")) {
			return errors.NotFound(apiID, "endpoint not found: %s", msg)
		}
		return errors.FromError(err, apiID)
	}
	return errors.InternalServerError(apiID, "error during request: %v", err)
}

// writeError answers with e as JSON and e.Code as the HTTP status.
func writeError(w http.ResponseWriter, e *errors.Error) {
	code := int(e.Code)
	if code < 100 || code > 599 {
		// A code that is not an HTTP status would make net/http panic;
		// the body still carries it.
		code = http.StatusInternalServerError
	}
	body := []byte(e.Error())
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body)
}

// logError records a failed call: at warn when it is the server's fault,
// at debug when it is the caller's (a 4xx, or "service not found", a 500
// in Micro): anyone can repeat those in a loop, and they must not fill
// the log.
func logError(log *slog.Logger, r *http.Request, e *errors.Error) {
	level := slog.LevelDebug
	if e.Code >= 500 && !errors.IsServiceNotFound(e) {
		level = slog.LevelWarn
	}
	log.Log(r.Context(), level, "gateway call failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "id", e.ID, "detail", e.Detail)
}
