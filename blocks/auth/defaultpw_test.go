package auth

import (
	"context"
	"net"
	"testing"
	"time"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/auth"
	"micro.dev/micro/proxy"
)

// nonLoopbackIP is an address of this machine that is not loopback, or ""
// when it has none.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// serveOn serves e's auth behind another proxy listening on host and
// returns an Auth and Accounts client connected to it.
func serveOn(t *testing.T, e *env, host string) (pb.AuthClient, pb.AccountsClient) {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.New(proxy.Config{Auth: e.auth})
	e.auth.Register(p.Server())
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	conn := testkit.Dial(t, lis.Addr().String())
	return pb.NewAuthClient(conn), pb.NewAccountsClient(conn)
}

const defaultPasswordRefusal = "the default admin password is accepted only from this machine (a loopback address); " +
	"set a password: start the server with --admin-password (MICRO_ADMIN_PASSWORD), or run 'micro user set password' on the server's machine"

// TestDefaultPasswordOnlyFromLoopback: admin/micro logs in from loopback
// and is refused from a real non-loopback socket of this machine with a
// 401 that says how to set a password; the same for changing the admin's
// secret with "micro" as the old one. Once the password is changed, the new
// one works from anywhere.
func TestDefaultPasswordOnlyFromLoopback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		host := nonLoopbackIP(t)
		if host == "" {
			t.Skip("this machine has no non-loopback address; TestDefaultPasswordBehindProxy covers the rule")
		}
		e := newEnv(t, fresh()...)
		remote, remoteAccounts := serveOn(t, e, host)
		ctx := context.Background()
		login := func(c pb.AuthClient, id, secret string) error {
			_, err := c.Token(ctx, &pb.TokenRequest{Id: id, Secret: secret})
			return err
		}

		wantCode(t, "default password from "+host, login(remote, "admin", "micro"), 401, defaultPasswordRefusal)
		wantCode(t, "wrong password from "+host, login(remote, "admin", "nope"), 401, "invalid account id or secret")
		wantCode(t, "default password from loopback", login(e.authc, "admin", "micro"), 0, "")

		// Another account of namespace micro cannot take the admin over from
		// elsewhere by giving "micro" as the old secret.
		e.generate(t, "micro", "bob", "user", "bobpw")
		tok, err := remote.Token(ctx, &pb.TokenRequest{Id: "bob", Secret: "bobpw"})
		if err != nil {
			t.Fatalf("bob from %s: %v", host, err)
		}
		_, err = remoteAccounts.ChangeSecret(inNS(as(ctx, tok.Token.AccessToken), "micro"),
			&pb.ChangeSecretRequest{Id: "admin", OldSecret: "micro", NewSecret: "taken"})
		wantCode(t, "change admin's default secret from "+host, err, 401, defaultPasswordRefusal)
		if !e.auth.DefaultPasswordInUse() {
			t.Fatal("the refused change changed the password")
		}

		// Changed (from loopback): the new password works from anywhere.
		_, err = e.accounts.ChangeSecret(inNS(as(ctx, e.admin(t)), "micro"), &pb.ChangeSecretRequest{Id: "admin", NewSecret: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "new password from "+host, login(remote, "admin", "s3cret"), 0, "")
		wantCode(t, "old default from loopback", login(e.authc, "admin", "micro"), 401, "invalid account id or secret")
	})
}

// TestDefaultPasswordBehindProxy: the address the door settled on decides,
// never a relaying proxy's loopback address. A call that reaches the proxy
// from loopback with forwarding headers counts as local only when every
// address they name is loopback (a trusted or untrusted proxy on this
// machine relaying for a local client); an unknown address is not this
// machine either.
func TestDefaultPasswordBehindProxy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func() []Option) {
		e := newEnv(t, fresh()...)
		for _, tc := range []struct {
			header, value string
			code          int32
		}{
			{"X-Forwarded-For", "203.0.113.9", 401},
			{"X-Forwarded-For", "127.0.0.1, 203.0.113.9", 401}, // a client's claim, then the proxy's fact
			{"X-Forwarded-For", "203.0.113.9, 127.0.0.1", 401}, // two local hops for a remote client
			{"X-Forwarded-For", "127.0.0.1", 0},
			{"X-Forwarded-For", "::1, 127.0.0.2", 0},
			{"X-Real-IP", "203.0.113.9", 401},
			{"X-Real-IP", "127.0.0.1", 0},
			{"Forwarded", "for=203.0.113.9;proto=https", 401},
			{"Forwarded", `for="[::1]:4711", for=unknown`, 401},
			{"Forwarded", `for="[::1]:4711";proto=http, for=127.0.0.1`, 0},
		} {
			ctx := grpcmd.AppendToOutgoingContext(context.Background(), tc.header, tc.value)
			_, err := e.authc.Token(ctx, &pb.TokenRequest{Id: "admin", Secret: "micro"})
			detail := ""
			if tc.code != 0 {
				detail = defaultPasswordRefusal
			}
			wantCode(t, "loopback peer with "+tc.header+": "+tc.value, err, tc.code, detail)
		}
		for addr, want := range map[string]int32{
			"127.0.0.1:5000": 0, "[::1]:5000": 0,
			"203.0.113.9:5000": 401, "192.0.2.7:4000": 401, "inproc": 401, "": 401,
		} {
			_, err := e.auth.login(withClientAddr(context.Background(), addr), "micro", "admin", "micro")
			detail := ""
			if want != 0 {
				detail = defaultPasswordRefusal
			}
			wantCode(t, "client address "+addr, err, want, detail)
		}
	})
}
