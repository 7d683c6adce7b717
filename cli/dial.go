package cli

import (
	"context"
	"time"

	"google.golang.org/grpc"

	microclient "micro.dev/micro/framework/client"
	"micro.dev/micro/framework/metadata"
)

// callTimeout bounds every call the CLI makes.
const callTimeout = 30 * time.Second

// dial connects to t with the framework's one dialer: TLS or plaintext as
// microclient.ParseTarget decides, never falling back from one to the
// other. It returns at once: a server that is not there, or whose
// certificate does not check out, shows up on the first call, which
// rpcError reports as "Failed to connect to micro server at addr".
func dial(t microclient.Target) (*grpc.ClientConn, error) {
	return microclient.Connect(t, grpc.WithUserAgent("micro/"+Version))
}

// client is a connection to the proxy of the current env, for one command.
type client struct {
	conn   *grpc.ClientConn
	target *target
	// token is the access token every call sends; "" when not logged in.
	token string
}

// connect resolves the target (env, namespace, address), dials its proxy
// and picks up the login for it, refreshed if it is about to expire.
func (a *app) connect() (*client, error) {
	c, err := a.connectAnonymous()
	if err != nil {
		return nil, err
	}
	s, err := a.session(c.target)
	if err == nil {
		c.token, err = s.token(context.Background(), c)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// connectAnonymous is connect without a login, for logging in.
func (a *app) connectAnonymous() (*client, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	dt, err := microclient.ParseTarget(t.Address, t.Security)
	if err != nil {
		return nil, exitf(exitFailure, "Cannot use proxy address %s: %v", t.Address, err)
	}
	conn, err := dial(dt)
	if err != nil {
		return nil, exitf(exitConnect, "Failed to connect to micro server at %s: %v", t.Address, err)
	}
	return &client{conn: conn, target: t}, nil
}

// Close releases the connection.
func (c *client) Close() { c.conn.Close() }

// callContext returns the context for one call: its metadata and the CLI's
// timeout.
func (c *client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.metadataContext(ctx), callTimeout)
}

// metadataContext returns ctx carrying what every call sends: the namespace
// and the login's token. Long-running calls use it without callContext's
// timeout.
func (c *client) metadataContext(ctx context.Context) context.Context {
	md := metadata.Metadata{metadata.Namespace: c.target.Namespace}
	if c.token != "" {
		md[metadata.Authorization] = "Bearer " + c.token
	}
	return metadata.NewContext(ctx, md)
}

// err turns the error of a call into what the user sees.
func (c *client) err(err error) error { return rpcError(err, c.target.Address) }

// withClient connects to the current env and runs call with the client and
// the call's context: its metadata, and the CLI's timeout unless follow, for
// streams that run until Ctrl-C. call's error is reported as an RPC error;
// an interrupted follow is a normal end. Commands reach the server through
// it, or a typed wrapper of it.
func (a *app) withClient(ctx context.Context, follow bool, call func(context.Context, *client) error) error {
	cl, err := a.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, cancel := cl.callContext(ctx)
	defer cancel()
	if follow {
		cctx = cl.metadataContext(ctx)
	}
	err = call(cctx, cl)
	if follow && ctx.Err() != nil {
		return nil // Ctrl-C
	}
	return cl.err(err)
}
