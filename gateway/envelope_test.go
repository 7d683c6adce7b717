package gateway

import (
	"encoding/binary"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "micro.dev/micro/proto/store"
)

// TestJSONRPCEnvelope: a JSON-RPC request's params reach the service; the
// reply comes back unwrapped as application/json-rpc.
func TestJSONRPCEnvelope(t *testing.T) {
	e := newEnv(t, Config{})
	ct := []string{"Content-Type", "application/json-rpc"}
	r := e.do(t, "POST", "/store/Store/Tables", `{"method":"Store.Tables","params":[{"database":"rpc"}],"id":1}`, ct...)
	r.want(t, 200, `{"tables":["micro","rpc"]}`)
	if got := r.header.Get("Content-Type"); got != "application/json-rpc" {
		t.Fatalf("content type %q", got)
	}
	e.do(t, "POST", "/store/Store/Tables", `{"method":"Store.Tables","params":{"database":"obj"},"id":2}`, ct...).
		want(t, 200, `{"tables":["micro","obj"]}`)
	e.do(t, "POST", "/store/Store/Tables", `{"method":"Store.Tables","id":3}`, ct...).want(t, 200, `{"tables":["micro",""]}`)
	for _, bad := range []string{`[1]`, `{"params":[{},{}]}`, `{"params":"x"}`, `{"params":[1}`, ``} {
		if r := e.do(t, "POST", "/store/Store/Tables", bad, ct...); r.code != 400 || !strings.Contains(r.body, "body must be a JSON-RPC request") {
			t.Errorf("%q: %d %s", bad, r.code, r.body)
		}
	}
}

func protoRPCBody(header, body []byte) string {
	var b []byte
	for _, part := range [][]byte{header, body} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return string(b)
}

// TestProtoRPCEnvelope: a proto-RPC request's body reaches the service as
// protobuf; the reply is protobuf, as application/proto-rpc.
func TestProtoRPCEnvelope(t *testing.T) {
	e := newEnv(t, Config{})
	req, _ := proto.Marshal(&pb.TablesRequest{Database: "p"})
	header := []byte("\x0a\x0cStore.Tables\x11\x01\x00\x00\x00\x00\x00\x00\x00") // service_method, seq
	r := e.do(t, "POST", "/store/Store/Tables", protoRPCBody(header, req), "Content-Type", "application/proto-rpc")
	if r.code != 200 || r.header.Get("Content-Type") != "application/proto-rpc" {
		t.Fatalf("got %d %s %q", r.code, r.header.Get("Content-Type"), r.body)
	}
	var out pb.TablesResponse
	if err := proto.Unmarshal([]byte(r.body), &out); err != nil || strings.Join(out.Tables, ",") != "micro,p" {
		t.Fatalf("got %v, %v", out.Tables, err)
	}
	full := protoRPCBody(header, req)
	for name, bad := range map[string]string{
		"empty":      "",
		"short":      full[:3],
		"truncated":  full[:len(full)-1],
		"trailing":   full + "x",
		"huge claim": "\xff\xff\xff\xff",
	} {
		if r := e.do(t, "POST", "/store/Store/Tables", bad, "Content-Type", "application/proto-rpc"); r.code != 400 ||
			!strings.Contains(r.body, "a 4-byte length and the header, then a 4-byte length and the request") {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
}
