package gateway

import (
	"micro.dev/micro/framework/codec"
)

// Micro's gateway unwrapped the request envelopes of go-micro's RPC codecs:
// a JSON-RPC request ({"method", "params": [request], "id"}) and a proto-RPC
// request (a 4-byte big-endian length and the header message, then a 4-byte
// length and the request). The service gets the request alone; the reply is
// not wrapped, and its Content-Type is the request's, as in Micro.

// envelopeShape says what a body of each enveloped subtype must be.
var envelopeShape = map[string]string{
	codec.JSONRPC:  `a JSON-RPC request {"method": ..., "params": [request], "id": ...}`,
	codec.ProtoRPC: "a 4-byte length and the header, then a 4-byte length and the request",
}

// unwrap returns the request inside an envelope of subtype sub, read by
// the framework's codec as a micro server reads it: JSON-RPC's params' one
// element, params itself when it is an object, {} without params; a
// proto-RPC body's second part.
func unwrap(sub string, body []byte) ([]byte, error) {
	var req codec.Frame
	if _, err := codec.DecodeRequest(sub, body, &req); err != nil {
		return nil, badRequest("a %s body must be %s: %v", codec.ContentType(sub), envelopeShape[sub], err)
	}
	return req.Data, nil
}
