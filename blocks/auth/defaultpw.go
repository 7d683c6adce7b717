package auth

import (
	"context"
	"net"

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

// forwardingHeaders are what a reverse proxy adds for the client behind it.
var forwardingHeaders = []string{"x-forwarded-for", "forwarded", "x-real-ip"}

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
// unknown address is not this machine. Nor is a loopback peer that relays
// for someone else: a call carrying forwarding headers came through a
// reverse proxy, whose own loopback address says nothing of the client.
func fromThisMachine(ctx context.Context) bool {
	host, _, err := net.SplitHostPort(clientAddr(ctx))
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	md, _ := grpcmd.FromIncomingContext(ctx)
	for _, h := range forwardingHeaders {
		if len(md.Get(h)) > 0 {
			return false
		}
	}
	return true
}
