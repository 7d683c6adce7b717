package client

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// Words takes and answers text.
type Words struct{}

func (*Words) Upper(ctx context.Context, req *string, rsp *string) error {
	*rsp = strings.ToUpper(*req)
	return nil
}

// TestCodecs round-trips a call in each of Micro's codecs, chosen by the
// request's content type: the server answers in the codec it was called
// with.
func TestCodecs(t *testing.T) {
	addr := startEcho(t, new(Echo), new(Words))
	c, err := New(Options{Proxy: "127.0.0.1:1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	call := func(endpoint string, req, rsp any, ct string) error {
		return c.Call(ctx, c.NewRequest("echo", endpoint, req, WithContentType(ct)), rsp, WithAddress(addr))
	}

	for _, ct := range []string{"application/protobuf", "application/proto-rpc", "application/json", "application/json-rpc",
		"application/grpc+protorpc", "application/json-rpc; charset=utf-8"} {
		rsp := new(pb.ReadResponse)
		if err := call("Echo.Read", &pb.ReadRequest{Key: "k/" + ct}, rsp, ct); err != nil || len(rsp.Records) != 1 || rsp.Records[0].Key != "k/"+ct {
			t.Errorf("%s: proto message round trip: %v %v", ct, rsp, err)
		}
		// A micro error still arrives as one, whatever the codec.
		err := call("Echo.Read", &pb.ReadRequest{Key: "missing"}, new(pb.ReadResponse), ct)
		if e, ok := err.(*errors.Error); !ok || e.Code != 404 || e.Detail != "no missing" {
			t.Errorf("%s: error %#v, want echo's 404", ct, err)
		}
	}
	for _, ct := range []string{"application/json-rpc", "application/json"} {
		var plain Plain
		if err := call("Echo.Shout", &Plain{Text: "hi"}, &plain, ct); err != nil || plain.Text != "HI" {
			t.Errorf("%s: plain struct round trip: %v %v", ct, plain, err)
		}
	}
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/grpc+text"} {
		var out string
		if err := call("Words.Upper", "hello, text", &out, ct); err != nil || out != "HELLO, TEXT" {
			t.Errorf("%s: text round trip: %q %v", ct, out, err)
		}
		var raw []byte
		if err := call("Words.Upper", []byte("bytes too"), &raw, ct); err != nil || string(raw) != "BYTES TOO" {
			t.Errorf("%s: text from bytes: %q %v", ct, raw, err)
		}
	}

	// What a codec cannot carry is a clear 400.
	for _, tc := range []struct {
		endpoint, ct, want string
		req, rsp           any
	}{
		{"Echo.Shout", "application/proto-rpc", "not a protobuf message", &Plain{Text: "x"}, new(Plain)}, // refused before sending
		{"Echo.Shout", "text/plain", "does not take text", "x", new(string)},
		{"Echo.Read", "application/vnd.nope", "unsupported content type", &pb.ReadRequest{}, new(pb.ReadResponse)},
	} {
		err := call(tc.endpoint, tc.req, tc.rsp, tc.ct)
		if e := errors.FromError(err, ""); e.Code != 400 || !strings.Contains(e.Detail, tc.want) {
			t.Errorf("%s as %s: %v, want a 400 saying %q", tc.endpoint, tc.ct, err, tc.want)
		}
	}

	// A stream's messages go in envelopes each way.
	for _, ct := range []string{"application/json-rpc", "application/json"} {
		body := &Plain{Text: "abc"}
		st, err := c.Stream(ctx, c.NewRequest("echo", "Echo.Spell", body, WithContentType(ct)), WithAddress(addr))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(body); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		var got []string
		for {
			var p Plain
			if err := st.Recv(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s stream: %v", ct, err)
			}
			got = append(got, p.Text)
		}
		if strings.Join(got, "") != "abc" {
			t.Errorf("%s stream: %v", ct, got)
		}
	}
}

// TestEnvelopes reads what the server sends: Micro's JSON-RPC 1.0 and
// net/rpc protobuf envelopes answering the request's id and method, and
// a request whose envelope names another method than the one called is
// refused.
func TestEnvelopes(t *testing.T) {
	addr := startEcho(t, new(Echo), new(Words))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	var out codec.Frame
	in := &codec.Frame{Data: []byte(`{"method":"Echo.Shout","params":[{"text":"hey"}],"id":"call-7"}`)}
	if err := conn.Invoke(ctx, "/echo.Echo/Shout", in, &out, grpc.CallContentSubtype(codec.JSONRPC)); err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Data), `{"id":"call-7","result":{"text":"HEY"},"error":null}`; got != want {
		t.Errorf("JSON-RPC answer %s, want %s", got, want)
	}

	req, _ := codec.EncodeRequest(codec.ProtoRPC, codec.Envelope{Method: "Echo.Read", Seq: 42}, &pb.ReadRequest{Key: "p"})
	if err := conn.Invoke(ctx, "/echo.Echo/Read", &codec.Frame{Data: req}, &out, grpc.CallContentSubtype(codec.ProtoRPC)); err != nil {
		t.Fatal(err)
	}
	rsp := new(pb.ReadResponse)
	env, err := codec.DecodeResponse(codec.ProtoRPC, out.Data, rsp)
	if err != nil || env.Method != "Echo.Read" || env.Seq != 42 || env.Error != "" || rsp.Records[0].Key != "p" {
		t.Errorf("proto-rpc answer: %+v %v %v", env, rsp, err)
	}

	in = &codec.Frame{Data: []byte(`{"method":"Echo.Read","params":[{"text":"hey"}],"id":1}`)}
	err = conn.Invoke(ctx, "/echo.Echo/Shout", in, &out, grpc.CallContentSubtype(codec.JSONRPC))
	if e := errors.FromError(err, ""); e.Code != 400 || !strings.Contains(e.Detail, `names method "Echo.Read"`) {
		t.Errorf("mismatched envelope: %v", err)
	}
	for _, bad := range []string{`not json`, `{"method":"Echo.Shout","params":[1,2],"id":1}`} {
		err = conn.Invoke(ctx, "/echo.Echo/Shout", &codec.Frame{Data: []byte(bad)}, &out, grpc.CallContentSubtype(codec.JSONRPC))
		if e := errors.FromError(err, ""); e.Code != 400 {
			t.Errorf("envelope %s: %v, want a 400", bad, err)
		}
	}
	// The server refuses a protobuf envelope for a plain struct endpoint.
	err = conn.Invoke(ctx, "/echo.Echo/Shout", &codec.Frame{Data: req}, &out, grpc.CallContentSubtype(codec.ProtoRPC))
	if e := errors.FromError(err, ""); e.Code != 400 || !strings.Contains(e.Detail, "takes JSON") {
		t.Errorf("proto-rpc to a JSON endpoint: %v", err)
	}
	for _, bad := range [][]byte{{0, 0}, {0, 0, 0, 9, 1}, append(req, 1)} {
		err = conn.Invoke(ctx, "/echo.Echo/Read", &codec.Frame{Data: bad}, &out, grpc.CallContentSubtype(codec.ProtoRPC))
		if e := errors.FromError(err, ""); e.Code != 400 {
			t.Errorf("proto-rpc frame %x: %v, want a 400", bad, err)
		}
	}
}
