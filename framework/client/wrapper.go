package client

import "context"

// Wrapper is client middleware, as Micro's: it returns a Client that
// does something around (or instead of) the Client it wraps.
type Wrapper func(Client) Client

// CallFunc is one unary call as call wrappers see it. addr is the node the
// call goes to when it names one (WithAddress), "" for the proxy.
type CallFunc func(ctx context.Context, addr string, req Request, rsp any, opts CallOptions) error

// CallWrapper is middleware around every unary call: it may look at the
// call, change it, or refuse it by returning an error without calling next.
type CallWrapper func(next CallFunc) CallFunc

// WrapCall returns a Wrapper that runs every Call of the client it wraps
// through ws, the first given outermost. Streams pass unwrapped, as in
// Micro, where call wrappers see only unary calls.
func WrapCall(ws ...CallWrapper) Wrapper {
	return func(c Client) Client {
		fn := func(ctx context.Context, addr string, req Request, rsp any, o CallOptions) error {
			o.Address = addr
			return c.Call(ctx, req, rsp, func(co *CallOptions) { *co = o })
		}
		for i := len(ws) - 1; i >= 0; i-- {
			fn = ws[i](fn)
		}
		return &callWrapped{Client: c, call: fn}
	}
}

type callWrapped struct {
	Client
	call CallFunc
}

func (w *callWrapped) Call(ctx context.Context, req Request, rsp any, opts ...CallOption) error {
	o := CallOptions{Retries: DefaultRetries}
	for _, opt := range opts {
		opt(&o)
	}
	return w.call(ctx, o.Address, req, rsp, o)
}

// Identified is c answering for id's namespace and service name, so that
// a wrapped client keeps the defaults the block clients take from the
// client it wraps (see Identity).
func Identified(c Client, id Identity) Client {
	if _, ok := c.(Identity); ok {
		return c
	}
	return &identified{Client: c, id: id}
}

type identified struct {
	Client
	id Identity
}

func (i *identified) Namespace() string   { return i.id.Namespace() }
func (i *identified) ServiceName() string { return i.id.ServiceName() }
