package cli

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

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

// callOptions say how withClient reaches the server and bounds a
// command's calls. The zero value is the common case: the env's proxy, the
// login's token, callTimeout.
type callOptions struct {
	// timeout bounds the command's calls: 0 is callTimeout, noTimeout none
	// (a backup takes as long as the database is large; run and update
	// bound each build themselves).
	timeout time.Duration
	// follow is a stream read until Ctrl-C: no timeout, and Ctrl-C is a
	// normal end rather than "Request canceled".
	follow bool
	// anonymous skips the login, for logging in.
	anonymous bool
	// node, when set, is a node's host:port to call directly instead of
	// the proxy (micro call --address); the login's token still goes along.
	node string
	// metadata is sent with every call on top of the namespace and token.
	metadata map[string]string
}

// noTimeout is callOptions.timeout for calls bounded only by Ctrl-C.
const noTimeout time.Duration = -1

// withClient is how every command reaches the server. It connects to the
// current env, picks up the login (refreshed if it is about to expire),
// and runs call with the client and the call's context: the namespace,
// token and metadata every call carries, and the timeout o asks for.
// call's error is reported as an RPC error, as the user sees it; errors of
// the CLI's own (a file it cannot write) pass through unchanged.
func (a *app) withClient(ctx context.Context, o callOptions, call func(context.Context, *client) error) error {
	cl, err := a.connect(o)
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx := cl.metadataContext(ctx)
	for k, v := range o.metadata {
		cctx = grpcmd.AppendToOutgoingContext(cctx, strings.ToLower(strings.TrimSpace(k)), v)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = callTimeout
	}
	if !o.follow && timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(cctx, timeout)
		defer cancel()
	}
	err = call(cctx, cl)
	if o.follow && ctx.Err() != nil {
		return nil // Ctrl-C
	}
	return cl.err(err)
}

// connect resolves the target (env, namespace, address), dials its proxy
// and, unless o.anonymous, picks up the login for it. With o.node it then
// dials that node instead, carrying the same login.
func (a *app) connect(o callOptions) (*client, error) {
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
	c := &client{conn: conn, target: t}
	if !o.anonymous {
		s, err := a.session(t)
		if err == nil {
			c.token, err = s.token(context.Background(), c)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	if o.node != "" {
		c.Close()
		nt, err := microclient.NodeTarget(o.node, t.Security)
		if err != nil {
			return nil, exitf(exitFailure, "Cannot use node address %s: %v", o.node, err)
		}
		if c.conn, err = dial(nt); err != nil {
			return nil, exitf(exitConnect, "Failed to connect to %s: %v", o.node, err)
		}
		c.target.Address = o.node
	}
	return c, nil
}

// Close releases the connection.
func (c *client) Close() { c.conn.Close() }

// metadataContext returns ctx carrying what every call sends: the namespace
// and the login's token.
func (c *client) metadataContext(ctx context.Context) context.Context {
	md := metadata.Metadata{metadata.Namespace: c.target.Namespace}
	if c.token != "" {
		md[metadata.Authorization] = "Bearer " + c.token
	}
	return metadata.NewContext(ctx, md)
}

// err turns the error of a call into what the user sees.
func (c *client) err(err error) error { return rpcError(err, c.target.Address) }
