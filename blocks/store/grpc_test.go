package store

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// TestJSONOverGRPC checks the store's JSON form, as the CLI and the
// gateway see it: snake_case, every field, int64 as a string, bytes base64.
func TestJSONOverGRPC(t *testing.T) {
	e := newEnv(t)
	call := func(method, req string) (string, error) {
		var rsp codec.Frame
		err := e.conn.Invoke(t.Context(), "/store.Store/"+method, &codec.Frame{Data: []byte(req)}, &rsp,
			grpc.CallContentSubtype(codec.JSON))
		return string(rsp.Data), err
	}

	if _, err := call("Write", `{"record":{"key":"k","value":"aGk=","expiry":"60","metadata":{"m":{"type":"string","value":"x"}}}}`); err != nil {
		t.Fatal(err)
	}
	// A proto client sees what the JSON client wrote.
	rsp, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: "k"})
	if err != nil || string(rsp.Records[0].Value) != "hi" || rsp.Records[0].Expiry != 60 {
		t.Fatalf("proto read: %v %v", rsp, err)
	}
	if _, err := e.client.Write(t.Context(), &pb.WriteRequest{Record: &pb.Record{Key: "plain", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}

	got, err := call("Read", `{"key":"k"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"records":[{"key":"k","value":"aGk=","expiry":"60","metadata":{"m":{"type":"string","value":"x"}},"revision":"1"}]}`
	if got != want {
		t.Fatalf("read k:\n got %s\nwant %s", got, want)
	}
	got, err = call("Read", `{"key":"plain"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"records":[{"key":"plain","value":"dg==","expiry":"0","metadata":{},"revision":"1"}]}`; got != want {
		t.Fatalf("read plain:\n got %s\nwant %s", got, want)
	}
	got, err = call("Tables", `{}`)
	if err != nil || got != `{"tables":["micro"]}` {
		t.Fatalf("tables: %s %v", got, err)
	}
	if got, err := call("Delete", `{"key":"plain","options":{"database":"","table":""}}`); err != nil || got != `{}` {
		t.Fatalf("delete: %s %v", got, err)
	}

	_, err = call("Read", `{"key":"missing"}`)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("missing: %v", err)
	}
	want = `{"id":"store","code":404,"detail":"not found","status":"Not Found"}`
	if msg := status.Convert(err).Message(); msg != want {
		t.Fatalf("error message %s, want %s", msg, want)
	}
	_, err = call("Write", `{"record":null}`)
	if me := errors.FromError(err, ""); me.Code != 400 || me.Detail != "record is required" {
		t.Fatalf("null record: %v", err)
	}
}
