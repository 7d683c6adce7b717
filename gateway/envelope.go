package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
)

// Micro's gateway unwrapped the request envelopes of go-micro's RPC codecs:
// a JSON-RPC request ({"method", "params": [request], "id"}) and a proto-RPC
// request (a 4-byte big-endian length and the header message, then a 4-byte
// length and the request). The service gets the request alone; the reply is
// not wrapped, and its Content-Type is the request's, as in Micro.
const (
	jsonRPC  = "application/json-rpc"
	protoRPC = "application/proto-rpc"
)

// unwrapJSONRPC returns the request of a JSON-RPC envelope: params' one
// element, params itself when it is an object, {} without params.
func unwrapJSONRPC(body []byte) ([]byte, error) {
	var env struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, badRequest("a %s body must be a JSON-RPC request {\"method\": ..., \"params\": [request], \"id\": ...}: %v", jsonRPC, err)
	}
	params := bytes.TrimSpace(env.Params)
	switch {
	case len(params) == 0 || bytes.Equal(params, []byte("null")):
		return []byte("{}"), nil
	case params[0] == '{':
		return params, nil
	case params[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(params, &list); err != nil {
			return nil, badRequest("JSON-RPC params: %v", err)
		}
		switch len(list) {
		case 0:
			return []byte("{}"), nil
		case 1:
			return list[0], nil
		}
		return nil, badRequest("JSON-RPC params has %d elements; a micro endpoint takes one request", len(list))
	}
	return nil, badRequest("JSON-RPC params must be [request] or a request object")
}

// unwrapProtoRPC returns the request of a proto-RPC envelope.
func unwrapProtoRPC(body []byte) ([]byte, error) {
	rest := body
	var parts [2][]byte
	for i := range parts {
		if len(rest) < 4 {
			return nil, badRequest("a %s body is a 4-byte length and the header, then a 4-byte length and the request; this one ends early", protoRPC)
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) {
			return nil, badRequest("a %s body announces %d bytes where %d are left", protoRPC, n, len(rest)-4)
		}
		parts[i], rest = rest[4:4+n], rest[4+n:]
	}
	if len(rest) != 0 {
		return nil, badRequest("a %s body has %d bytes after the request", protoRPC, len(rest))
	}
	return parts[1], nil
}
