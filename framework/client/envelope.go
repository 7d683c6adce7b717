package client

import (
	"sync/atomic"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
)

// seq numbers the client's enveloped requests (jsonrpc, protorpc), as
// Micro's rpc client did; a stream's messages share its number.
var seq atomic.Uint64

// wrapRequest returns what to send for body and where to receive rsp: for
// an enveloped subtype, frames the client wraps and unwraps itself (the
// envelope names the endpoint, which the gRPC codec cannot know); for any
// other, body and rsp as they are.
func wrapRequest(sub, endpoint string, n uint64, body, rsp any) (send, recv any, err error) {
	if !codec.Enveloped(sub) {
		return body, rsp, nil
	}
	data, err := codec.EncodeRequest(sub, codec.Envelope{Method: endpoint, Seq: n}, body)
	if err != nil {
		return nil, nil, errors.BadRequest(clientID, "encoding the request to %s as %s: %v", endpoint, codec.ContentType(sub), err)
	}
	return &codec.Frame{Data: data}, new(codec.Frame), nil
}

// unwrapResponse reads an enveloped answer received into f into rsp.
func unwrapResponse(sub, endpoint string, f *codec.Frame, rsp any) error {
	env, err := codec.DecodeResponse(sub, f.Data, rsp)
	if err != nil {
		return errors.InternalServerError(clientID, "decoding the %s response of %s: %v", codec.ContentType(sub), endpoint, err)
	}
	if env.Error != "" {
		return errors.Parse(env.Error)
	}
	return nil
}
