package client

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/tracing"
	authpb "micro.dev/micro/proto/auth"
)

// absentRecheck is how long a client that found no auth service calls
// anonymously before asking again.
const absentRecheck = time.Minute

// tokenSource holds a service's access token: obtained from auth.Auth/Token
// with the service's id and secret, refreshed (with the refresh token, else
// the secret again) shortly before it expires. A secret that is a
// credential JWT is exchanged like a password, never sent as a bearer: the
// doors take only access tokens. Without credentials, or when the server
// has no auth service, calls go anonymously.
type tokenSource struct {
	conn       grpc.ClientConnInterface
	id, secret string
	namespace  string
	log        *slog.Logger
	now        func() time.Time

	mu             sync.Mutex
	access         string
	refresh        string
	created        time.Time
	expiry         time.Time // zero: not known to expire
	anonymousUntil time.Time
	warned         bool
}

func newTokenSource(conn grpc.ClientConnInterface, id, secret, ns string, log *slog.Logger) *tokenSource {
	return &tokenSource{conn: conn, id: id, secret: secret, namespace: ns, log: log, now: time.Now}
}

// Token returns a valid access token, obtaining or refreshing one when
// needed; "" means call anonymously.
func (t *tokenSource) Token(ctx context.Context) (string, error) {
	if t.id == "" && t.secret == "" {
		return "", nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.access != "" && !t.due(now) {
		return t.access, nil
	}
	if now.Before(t.anonymousUntil) {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()

	var tok *authpb.Token
	var err error
	if t.refresh != "" {
		tok, err = t.exchange(ctx, &authpb.TokenRequest{RefreshToken: t.refresh})
	}
	if tok == nil {
		tok, err = t.exchange(ctx, &authpb.TokenRequest{Id: t.id, Secret: t.secret})
	}
	switch {
	case err == nil:
		t.access, t.refresh = tok.GetAccessToken(), tok.GetRefreshToken()
		t.created, t.expiry = unix(tok.GetCreated()), unix(tok.GetExpiry())
		return t.access, nil
	case authAbsent(err):
		if !t.warned {
			t.log.Info("no auth service on the server: calling without a token", "account", t.id)
			t.warned = true
		}
		t.anonymousUntil = now.Add(absentRecheck)
		return "", nil
	case refused(err):
		return "", callError(err)
	}
	e := errors.FromError(err, clientID)
	return "", errors.Unauthorized(clientID, "could not obtain a token for account %s: %s", t.id, e.Detail)
}

// due reports whether the token should be refreshed: within a quarter of
// its lifetime (at most a minute) of expiring.
func (t *tokenSource) due(now time.Time) bool {
	if t.expiry.IsZero() {
		return false
	}
	margin := time.Minute
	if life := t.expiry.Sub(t.created); life > 0 && life/4 < margin {
		margin = life / 4
	}
	return !now.Before(t.expiry.Add(-margin))
}

func (t *tokenSource) exchange(ctx context.Context, req *authpb.TokenRequest) (*authpb.Token, error) {
	req.Options = &authpb.Options{Namespace: t.namespace}
	ctx = grpcmd.NewOutgoingContext(ctx, grpcmd.Pairs(metadata.Namespace, t.namespace))
	ctx = tracing.Outgoing(tracing.Unsampled(ctx)) // plumbing: no trace of its own
	rsp := new(authpb.TokenResponse)
	if err := t.conn.Invoke(ctx, "/auth.Auth/Token", req, rsp); err != nil {
		return nil, err
	}
	if rsp.GetToken().GetAccessToken() == "" {
		return nil, errors.InternalServerError(clientID, "the auth service returned no access token")
	}
	return rsp.GetToken(), nil
}

// authAbsent reports an error saying the server has no auth service.
func authAbsent(err error) bool {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
		return true
	}
	e := errors.FromError(err, clientID)
	return e.Code == 501 || errors.IsServiceNotFound(e)
}

func refused(err error) bool { return Refused(err) }

func unix(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func metadataFromOutgoing(ctx context.Context) (grpcmd.MD, bool) {
	return grpcmd.FromOutgoingContext(ctx)
}
