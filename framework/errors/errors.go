// Package errors is micro's one error type. Every layer speaks it: handlers
// return it, the gateway writes it as JSON with its code as the HTTP status,
// and over gRPC it travels as a status whose code is mapped from the HTTP code
// and whose message is the error's JSON.
package errors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "micro.dev/micro/proto/errors"
)

// Error is a micro error: {"id","code","detail","status"}. Code is an HTTP
// status code and Status its text.
type Error struct {
	ID     string `json:"id"`
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

func (e *Error) Error() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// GRPCStatus lets grpc-go send e with the mapped code, e's JSON as the
// message and e itself as a status detail.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(GRPCCode(e.Code), e.Error())
	if ds, err := st.WithDetails(&pb.Error{Id: e.ID, Code: e.Code, Detail: e.Detail, Status: e.Status}); err == nil {
		return ds
	}
	return st
}

// New returns an error with the given id, detail and HTTP code.
func New(id, detail string, code int32) *Error {
	return &Error{ID: id, Code: code, Detail: detail, Status: http.StatusText(int(code))}
}

func newf(code int32, id, format string, a ...any) *Error {
	detail := format
	if len(a) > 0 {
		detail = fmt.Sprintf(format, a...)
	}
	return New(id, detail, code)
}

// BadRequest is 400: the caller sent something that cannot be served as is.
func BadRequest(id, format string, a ...any) *Error { return newf(400, id, format, a...) }

// Unauthorized is 401: no or invalid credentials.
func Unauthorized(id, format string, a ...any) *Error { return newf(401, id, format, a...) }

// Forbidden is 403: known caller, not allowed.
func Forbidden(id, format string, a ...any) *Error { return newf(403, id, format, a...) }

// NotFound is 404.
func NotFound(id, format string, a ...any) *Error { return newf(404, id, format, a...) }

// MethodNotAllowed is 405.
func MethodNotAllowed(id, format string, a ...any) *Error { return newf(405, id, format, a...) }

// Timeout is 408.
func Timeout(id, format string, a ...any) *Error { return newf(408, id, format, a...) }

// Conflict is 409: the write lost a race or the thing already exists.
func Conflict(id, format string, a ...any) *Error { return newf(409, id, format, a...) }

// PreconditionFailed is 412: a compare-and-set revision did not match.
func PreconditionFailed(id, format string, a ...any) *Error { return newf(412, id, format, a...) }

// TooLarge is 413: the request body is over the limit.
func TooLarge(id, format string, a ...any) *Error { return newf(413, id, format, a...) }

// TooManyRequests is 429: rate limited.
func TooManyRequests(id, format string, a ...any) *Error { return newf(429, id, format, a...) }

// InternalServerError is 500.
func InternalServerError(id, format string, a ...any) *Error { return newf(500, id, format, a...) }

// NotImplemented is 501.
func NotImplemented(id, format string, a ...any) *Error { return newf(501, id, format, a...) }

// BadGateway is 502.
func BadGateway(id, format string, a ...any) *Error { return newf(502, id, format, a...) }

// ServiceUnavailable is 503.
func ServiceUnavailable(id, format string, a ...any) *Error { return newf(503, id, format, a...) }

// InsufficientStorage is 507: the server has no room to store what was
// asked (its disk is full).
func InsufficientStorage(id, format string, a ...any) *Error { return newf(507, id, format, a...) }

// GatewayTimeout is 504.
func GatewayTimeout(id, format string, a ...any) *Error { return newf(504, id, format, a...) }

// Parse reads a micro error from its JSON form. Text that is not a micro
// error becomes a 500 whose detail is the text.
func Parse(s string) *Error {
	e := new(Error)
	if err := json.Unmarshal([]byte(s), e); err != nil || (e.Code == 0 && e.Detail == "" && e.ID == "") {
		return InternalServerError("", "%s", s)
	}
	if e.Status == "" {
		e.Status = http.StatusText(int(e.Code))
	}
	return e
}

// FromError turns any error into a micro error: a micro error is returned as
// is; a gRPC status is rebuilt from its detail or JSON message, or mapped from
// its code; context errors become 408; anything else is a 500 with the given id.
func FromError(err error, id string) *Error {
	if err == nil {
		return nil
	}
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout(id, "request timed out")
	}
	if errors.Is(err, context.Canceled) {
		return New(id, "request canceled", 499)
	}
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if pe, ok := d.(*pb.Error); ok {
				return &Error{ID: pe.Id, Code: pe.Code, Detail: pe.Detail, Status: pe.Status}
			}
		}
		if e := Parse(st.Message()); e.Code != 500 || e.ID != "" {
			return e
		}
		// grpc-go reports a request its codec could not decode as Internal,
		// before any handler runs; to the caller it is a bad request.
		if st.Code() == codes.Internal && strings.HasPrefix(st.Message(), "grpc: failed to unmarshal") {
			return BadRequest(id, "invalid request: %s", strings.TrimPrefix(st.Message(), "grpc: failed to unmarshal the received message: "))
		}
		if st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
			return messageTooLarge(id, st.Message())
		}
		code := HTTPCode(st.Code())
		return New(id, st.Message(), code)
	}
	return InternalServerError(id, "%s", err.Error())
}

// messageTooLarge is a call's message over gRPC's size limit, whichever
// side refused it: the sender before sending, or the receiver. Usually it
// is an answer that grew with the data (a read by prefix, a list, a log).
// As ResourceExhausted it would read as 429, which clients retry forever;
// it is a 413, since asking again the same way cannot help.
func messageTooLarge(id, msg string) *Error {
	size := ""
	if i := strings.LastIndex(msg, "("); i >= 0 {
		size = " " + msg[i:]
	}
	return TooLarge(id, "a message of this call is larger than one may be%s: ask for less at a time, "+
		"paging with limit and offset or narrowing the prefix, or send less", size)
}

// Code reports the HTTP code of err as a micro error, 0 for nil.
func Code(err error) int32 {
	if err == nil {
		return 0
	}
	return FromError(err, "").Code
}

var toGRPC = map[int32]codes.Code{
	400: codes.InvalidArgument,
	401: codes.Unauthenticated,
	403: codes.PermissionDenied,
	404: codes.NotFound,
	405: codes.Unimplemented,
	408: codes.DeadlineExceeded,
	409: codes.AlreadyExists,
	412: codes.FailedPrecondition,
	413: codes.ResourceExhausted,
	429: codes.ResourceExhausted,
	499: codes.Canceled,
	500: codes.Internal,
	501: codes.Unimplemented,
	502: codes.Unavailable,
	503: codes.Unavailable,
	504: codes.DeadlineExceeded,
	// gRPC's own reading of ResourceExhausted includes "the entire file
	// system is out of space"; the error's detail keeps it 507.
	507: codes.ResourceExhausted,
}

var toHTTP = map[codes.Code]int32{
	codes.OK:                 200,
	codes.Canceled:           499,
	codes.InvalidArgument:    400,
	codes.Unauthenticated:    401,
	codes.PermissionDenied:   403,
	codes.NotFound:           404,
	codes.DeadlineExceeded:   408,
	codes.AlreadyExists:      409,
	codes.FailedPrecondition: 412,
	codes.ResourceExhausted:  429,
	codes.Internal:           500,
	codes.Unimplemented:      501,
	codes.Unavailable:        503,
}

// GRPCCode maps an HTTP code to a gRPC code; unknown codes map to
// Unknown.
func GRPCCode(code int32) codes.Code {
	if c, ok := toGRPC[code]; ok {
		return c
	}
	return codes.Unknown
}

// HTTPCode maps a gRPC code to the HTTP code a micro error carries.
func HTTPCode(c codes.Code) int32 {
	if h, ok := toHTTP[c]; ok {
		return h
	}
	return 500
}

// serviceNotFound starts the detail of ServiceNotFound.
const serviceNotFound = "service not found"

// ServiceNotFound is the answer to a call for a service no one hosts, as
// Micro gives it byte for byte: a 500 with id "micro" and detail "service
// not found: <service>" ("service not found" when service is empty).
// Micro clients match on it, so it stays a 500 rather than a 404.
func ServiceNotFound(service string) *Error {
	if service == "" {
		return InternalServerError("micro", serviceNotFound)
	}
	return InternalServerError("micro", serviceNotFound+": %s", service)
}

// IsServiceNotFound reports whether err is ServiceNotFound's answer, here
// or after a trip over the wire. A registry's 404 for a name it does not
// know is not: that call found its service.
func IsServiceNotFound(err error) bool {
	e := FromError(err, "")
	return e != nil && e.Code == 500 && (e.Detail == serviceNotFound || strings.HasPrefix(e.Detail, serviceNotFound+": "))
}
