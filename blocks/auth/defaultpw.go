package auth

import (
	"context"
	"net"
	"strings"

	grpcmd "google.golang.org/grpc/metadata"

	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// The default admin password is accepted only from this machine, as
// RabbitMQ accepts its guest/guest: a server dropped on a public VM is not
// open to anyone who knows the default, and local use (make run, the
// tests, the first `micro user set password`) keeps working. Once the
// password is changed the rule no longer matters: "micro" is then wrong.

// errDefaultPassword is the answer to the default password from elsewhere.
func errDefaultPassword() error {
	return merrors.Unauthorized(errID, "the default admin password is accepted only from this machine (a loopback address); "+
		"set a password: start the server with --admin-password (MICRO_ADMIN_PASSWORD), "+
		"or run 'micro user set password' on the server's machine")
}

// checkDefaultPassword refuses secret when it is the default admin's
// default password and the call did not come from this machine. ns and id
// are the account's own (after a lookup by name).
func checkDefaultPassword(ctx context.Context, ns, id, secret string) error {
	if ns != metadata.DefaultNamespace || id != AdminID || secret != DefaultAdminPassword || fromThisMachine(ctx) {
		return nil
	}
	return errDefaultPassword()
}

// fromThisMachine reports whether the call in ctx came from a loopback
// address, by the address the door settled on (clientAddr: the peer, or
// the client a trusted proxy names), the one the login limits count. An
// unknown address is not this machine. A call relayed by a reverse proxy
// carries forwarding headers; then every address they name must be
// loopback too. A proxy on this machine that is not trusted is a loopback
// peer and says nothing of its client; a proxy appends the address it
// took the call from, so a client claiming 127.0.0.1 in a header of its
// own is still named by its real address.
func fromThisMachine(ctx context.Context) bool {
	if !isLoopback(clientAddr(ctx)) {
		return false
	}
	md, _ := grpcmd.FromIncomingContext(ctx)
	for _, v := range md.Get("x-forwarded-for") {
		for hop := range strings.SplitSeq(v, ",") {
			if !isLoopback(hop) {
				return false
			}
		}
	}
	for _, v := range md.Get("x-real-ip") {
		if !isLoopback(v) {
			return false
		}
	}
	// Forwarded: for=192.0.2.60;proto=http, for="[::1]:4711" (RFC 7239).
	for _, v := range md.Get("forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") && !isLoopback(strings.Trim(val, `"`)) {
					return false
				}
			}
		}
	}
	return true
}

// isLoopback reports whether addr ("host:port", "[v6]:port" or a bare
// host) is a loopback IP address.
func isLoopback(addr string) bool {
	addr = strings.TrimSpace(addr)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
