package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	merrors "micro.dev/micro/framework/errors"
	pberrors "micro.dev/micro/proto/errors"
)

// Exit codes of the micro command, as in Micro. Scripts test them, so they
// do not change once shipped.
//
// Micro exits 127 for every micro error it has no special case for, which
// makes `micro store read missing` (a plain 404) look like a server fault. We
// split them instead: a 4xx is the caller's doing and exits 1, like any other
// user mistake; only 5xx (the server's doing) keeps 127. Errors grpc-go
// produced without a micro error inside keep Micro's 128.
const (
	exitOK           = 0   // success, including --help
	exitFailure      = 1   // usage mistakes, local failures, 4xx micro errors, 408 "Request timed out"
	exitUnauthorized = 2   // 401 "Not authorized to perform this request"
	exitMalformed    = 3   // malformed method name (micro call)
	exitConnect      = 4   // "Failed to connect to micro server at A"
	exitNoService    = 5   // "Service \"x\" not found", "Service method \"x\" not found"
	exitServerError  = 127 // 5xx micro errors
	exitOther        = 128 // gRPC errors that carry no micro error
)

// clientID is the id of micro errors made on the CLI's side of a call.
const clientID = "micro.cli"

// exitError is an error already in the form the user sees: a message for
// stderr, an optional second line with the underlying cause, and the exit code.
type exitError struct {
	code  int
	msg   string
	cause string
}

func (e *exitError) Error() string { return e.msg }

// exitf returns an exitError with a formatted message.
func exitf(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

// usageErrorf reports a mistake in how a command was invoked, pointing at the
// help of the command (path is e.g. "micro store read").
func usageErrorf(path, format string, a ...any) error {
	msg := capitalize(fmt.Sprintf(format, a...))
	return exitf(exitFailure, "%s. Please refer to '%s --help'", msg, path)
}

var (
	unknownMethod  = regexp.MustCompile(`unknown method (\S+) for service (\S+)`)
	unknownService = regexp.MustCompile(`unknown service (\S+)`)
)

// rpcError turns the error of a call to the server at addr into the message
// and exit code the user sees.
func rpcError(err error, addr string) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) || !fromCall(err) {
		return err
	}
	if st, ok := status.FromError(err); ok && !carriesMicroError(st) {
		// grpc-go made this status itself: the transport, or a server that
		// does not know the service or method.
		switch st.Code() {
		case codes.Unavailable:
			return connectError(addr, connectCause(st.Message()))
		case codes.Unimplemented:
			if m := unknownMethod.FindStringSubmatch(st.Message()); m != nil {
				return exitf(exitNoService, "Service method %q not found", m[2]+"."+m[1])
			}
			if m := unknownService.FindStringSubmatch(st.Message()); m != nil {
				return exitf(exitNoService, "Service %q not found", m[1])
			}
		case codes.DeadlineExceeded:
			return exitf(exitFailure, "Request timed out")
		case codes.Canceled:
			return exitf(exitFailure, "Request canceled")
		case codes.ResourceExhausted:
			// A message over the size limit: the micro error below (413)
			// says to ask for less.
		default:
			return exitf(exitOther, "%s", capitalize(st.Message()))
		}
	}
	me := merrors.FromError(err, clientID)
	switch {
	case merrors.IsServiceNotFound(me):
		// The router's answer for a service no one hosts.
		return exitf(exitNoService, "Service %q not found", strings.TrimPrefix(me.Detail, "service not found: "))
	case me.Code == 404 && strings.Contains(me.Detail, " has no endpoint "):
		return exitf(exitNoService, "%s", capitalize(me.Detail))
	case me.Code == 401:
		// Micro's line, then the server's reason (not logged in, token
		// expired, the rules...), which is what the user can act on.
		return &exitError{code: exitUnauthorized, msg: "Not authorized to perform this request", cause: me.Detail}
	case me.Code == 408:
		return exitf(exitFailure, "Request timed out")
	case me.Code >= 400 && me.Code < 500:
		return exitf(exitFailure, "%s", capitalize(me.Detail))
	default:
		return exitf(exitServerError, "%s", capitalize(me.Detail))
	}
}

// fromCall reports whether err came out of a call: a gRPC status, a micro
// error, or the call's context ending. Anything else is the CLI's own (a
// file it could not write) and is reported as it is.
func fromCall(err error) bool {
	var me *merrors.Error
	_, isStatus := status.FromError(err)
	return isStatus || errors.As(err, &me) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// isNotFound reports a 404 micro error.
func isNotFound(err error) bool { return merrors.FromError(err, clientID).Code == 404 }

// connectCause shortens grpc-go's message for a failed connection to its
// cause: "connection error: desc = \"transport: Error while dialing: dial
// tcp 127.0.0.1:8081: connect: connection refused\"" becomes "dial tcp
// 127.0.0.1:8081: connect: connection refused".
func connectCause(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "connection error: desc = "); ok {
		if unq, err := strconv.Unquote(rest); err == nil {
			rest = unq
		}
		msg = rest
	}
	return strings.TrimPrefix(msg, "transport: Error while dialing: ")
}

// connectError is the error for a server at addr that could not be
// reached because of cause. A TLS mismatch or an untrusted certificate
// says what to do about it: the client never retries the other way.
func connectError(addr, cause string) error {
	msg := "Failed to connect to micro server at " + addr
	switch {
	case strings.Contains(cause, "x509:") || strings.Contains(cause, "tls: failed to verify"):
		i := strings.Index(cause, "x509:")
		if i < 0 {
			i = strings.Index(cause, "tls: failed to verify")
		}
		return &exitError{code: exitConnect,
			msg: msg + ": its TLS certificate does not check out (" + cause[i:] + ")",
			cause: "for a private CA: micro env add <name> " + addr + " --ca ca.pem, or MICRO_PROXY_CA=ca.pem; " +
				"--insecure (MICRO_PROXY_INSECURE=true) skips the check"}
	case strings.Contains(cause, "first record does not look like a TLS handshake"):
		return &exitError{code: exitConnect, msg: msg + ": it does not speak TLS",
			cause: "to talk plaintext to it on purpose, give the address as http://host:port"}
	case strings.Contains(cause, "server preface"):
		return &exitError{code: exitConnect, msg: msg + ": it closed the connection",
			cause: cause + "; if the server speaks TLS, give the address as https://host:port"}
	}
	return &exitError{code: exitConnect, msg: msg, cause: cause}
}

// carriesMicroError reports whether st was made from a micro error, as a
// status detail or as the error's JSON in the message.
func carriesMicroError(st *status.Status) bool {
	for _, d := range st.Details() {
		if _, ok := d.(*pberrors.Error); ok {
			return true
		}
	}
	var e merrors.Error
	return json.Unmarshal([]byte(st.Message()), &e) == nil && e.Code != 0
}

// capitalize upper-cases the first letter of s, as Micro prints details
// ("not found" -> "Not found").
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || unicode.IsUpper(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
