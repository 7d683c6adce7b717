package errors

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestJSONShape(t *testing.T) {
	got := BadRequest("store", "key is %s", "empty").Error()
	want := `{"id":"store","code":400,"detail":"key is empty","status":"Bad Request"}`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestRoundTripThroughGRPCStatus(t *testing.T) {
	for _, code := range []int32{400, 401, 403, 404, 408, 409, 413, 500, 501, 503} {
		in := New("svc", fmt.Sprintf("detail %d", code), code)
		st := in.GRPCStatus()
		if st.Code() != GRPCCode(code) {
			t.Fatalf("%d: grpc code %v", code, st.Code())
		}
		out := FromError(st.Err(), "other")
		if *out != *in {
			t.Fatalf("%d: round trip %+v != %+v", code, out, in)
		}
		// Peers that drop details still send the JSON message.
		out = FromError(status.Error(st.Code(), st.Message()), "other")
		if *out != *in {
			t.Fatalf("%d: from message %+v != %+v", code, out, in)
		}
	}
}

func TestFromForeignErrors(t *testing.T) {
	if e := FromError(status.Error(codes.NotFound, "no such thing"), "x"); e.Code != 404 || e.Detail != "no such thing" || e.ID != "x" {
		t.Fatalf("plain status: %+v", e)
	}
	if e := FromError(context.DeadlineExceeded, "x"); e.Code != 408 {
		t.Fatalf("deadline: %+v", e)
	}
	if e := FromError(fmt.Errorf("wrapped: %w", NotFound("a", "b")), "x"); e.Code != 404 || e.ID != "a" {
		t.Fatalf("wrapped: %+v", e)
	}
	if e := FromError(fmt.Errorf("boom"), "x"); e.Code != 500 || e.Detail != "boom" {
		t.Fatalf("plain: %+v", e)
	}
	if e := Parse("not json"); e.Code != 500 || e.Detail != "not json" {
		t.Fatalf("parse: %+v", e)
	}
}

// A message over gRPC's size limit, refused by either side, is a 413 that
// says to ask for less: as a 429 clients would retry it forever.
func TestMessageTooLargeIs413(t *testing.T) {
	for _, msg := range []string{
		"trying to send message larger than max (41943080 vs. 33554432)",
		"grpc: received message larger than max (41943080 vs. 33554432)",
	} {
		e := FromError(status.Error(codes.ResourceExhausted, msg), "store")
		if e.Code != 413 || e.ID != "store" || !strings.Contains(e.Detail, "limit and offset") || !strings.Contains(e.Detail, "(41943080 vs. 33554432)") {
			t.Fatalf("%s: %+v", msg, e)
		}
	}
	// A rate limit is still a 429.
	if e := FromError(status.Error(codes.ResourceExhausted, "slow down"), "x"); e.Code != 429 {
		t.Fatalf("rate limit: %+v", e)
	}
}

func TestServiceNotFound(t *testing.T) {
	if got, want := ServiceNotFound("greeter").Error(), `{"id":"micro","code":500,"detail":"service not found: greeter","status":"Internal Server Error"}`; got != want {
		t.Errorf("ServiceNotFound = %s, want %s", got, want)
	}
	wire := func(e *Error) error { return e.GRPCStatus().Err() }
	for _, err := range []error{ServiceNotFound("greeter"), ServiceNotFound(""), wire(ServiceNotFound("greeter")), fmt.Errorf("route: %w", ServiceNotFound(""))} {
		if !IsServiceNotFound(err) {
			t.Errorf("IsServiceNotFound(%v) = false", err)
		}
	}
	for _, err := range []error{nil, NotFound("registry", "service not found: greeter"), InternalServerError("micro", "service not foundry"),
		InternalServerError("store", "database closed")} {
		if IsServiceNotFound(err) {
			t.Errorf("IsServiceNotFound(%v) = true", err)
		}
	}
}
