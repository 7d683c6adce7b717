package jsstorage

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/natstest"
)

// TestTokensRoundTripAndSort: any name, even empty or with bytes NATS keys
// refuse, is one valid key token that decodes back, and tokens sort as
// their names do.
func TestTokensRoundTripAndSort(t *testing.T) {
	names := []string{"", "a.b", "a", "x y/z*>", "\x00\xff", "Zz", "ä"}
	var toks []string
	for _, n := range names {
		tok := Token(n)
		for _, c := range tok {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '_') {
				t.Fatalf("token %q of %q holds %q", tok, n, c)
			}
		}
		back, err := Name(tok)
		if err != nil || back != n {
			t.Fatalf("Name(Token(%q)) = %q, %v", n, back, err)
		}
		toks = append(toks, tok)
	}
	sort.Strings(names)
	sort.Strings(toks)
	for i, tok := range toks {
		if n, _ := Name(tok); n != names[i] {
			t.Fatalf("token order %d is %q, name order %q", i, n, names[i])
		}
	}
	for _, bad := range []string{"x61", "_6", "_zz", "secret-key"} {
		if _, err := Name(bad); err == nil {
			t.Fatalf("Name(%q) decoded", bad)
		}
	}
}

// TestConflictsAndUnavailable: a compare-and-set that lost is a conflict
// whether it went through Put or the KeyValue's Create and Update; other
// failures are not; an answer from JetStream passes Unavailable as it is
// while a failure to reach it is a 503 naming the block.
func TestConflictsAndUnavailable(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	ctx := t.Context()
	kv, stream, err := Bucket(ctx, js, Config{Bucket: "test", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := Put(ctx, js, "test", Token("k"), []byte("1"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Put(ctx, js, "test", Token("k"), []byte("2"), 0, 0)
	if !errors.Is(err, ErrConflict) || !IsConflict(err) {
		t.Fatalf("a second create through Put: %v", err)
	}
	_, err = kv.Create(ctx, Token("k"), []byte("2"))
	if !IsConflict(err) {
		t.Fatalf("a second create through the KeyValue: %v", err)
	}
	_, err = kv.Update(ctx, Token("k"), []byte("2"), rev+7)
	if !IsConflict(err) {
		t.Fatalf("an update at a wrong revision: %v", err)
	}
	if _, err = kv.Update(ctx, Token("k"), []byte("2"), rev); err != nil {
		t.Fatal(err)
	}
	val, last, deleted, err := Last(ctx, stream, "test", Token("k"))
	if err != nil || string(val) != "2" || last <= rev || deleted {
		t.Fatalf("Last: %q rev %d deleted %v, %v", val, last, deleted, err)
	}
	if _, err := Delete(ctx, js, "test", Token("k"), last); err != nil {
		t.Fatal(err)
	}
	if _, _, deleted, err := Last(ctx, stream, "test", Token("k")); err != nil || !deleted {
		t.Fatalf("after Delete: deleted %v, %v", deleted, err)
	}
	for _, err := range []error{errors.New("boom"), context.Canceled, jetstream.ErrKeyNotFound} {
		if IsConflict(err) {
			t.Fatalf("%v is a conflict", err)
		}
	}

	_, err = kv.Get(ctx, Token("absent"))
	if got := Unavailable("store", err); !errors.Is(got, jetstream.ErrKeyNotFound) {
		t.Fatalf("Unavailable changed a key not found: %v", got)
	}
	if got := Unavailable("store", context.Canceled); got != context.Canceled {
		t.Fatalf("Unavailable changed a cancelled call: %v", got)
	}
	var me *merrors.Error
	got := Unavailable("store", errors.New("nats: no responders available for request"))
	if !errors.As(got, &me) || me.Code != 503 || me.Detail != "store cannot reach the cluster's JetStream: nats: no responders available for request" {
		t.Fatalf("Unavailable: %v", got)
	}
	if Key(Token("a"), Token("b")) != "_61._62" {
		t.Fatalf("Key: %s", Key(Token("a"), Token("b")))
	}
}

// TestCreateWaitsForPeers: a create refused at once because a node is not
// up yet to hold a replica is tried again after a pause, not given up.
func TestCreateWaitsForPeers(t *testing.T) {
	noPeers := &jetstream.APIError{Code: 400, ErrorCode: errCodeNoPeers, Description: "no suitable peers for placement"}
	calls := 0
	got, err := retry(t.Context(), func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", noPeers
		}
		return "created", nil
	})
	if err != nil || got != "created" || calls != 3 {
		t.Fatalf("retry: %q, %v after %d calls; want created after 3", got, err, calls)
	}
	// A refusal that is not the cluster settling is not tried again.
	calls = 0
	bad := &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeBadRequest, Description: "bad request"}
	if _, err := retry(t.Context(), func(context.Context) (string, error) { calls++; return "", bad }); err != bad || calls != 1 {
		t.Fatalf("retry of a bad request: %v after %d calls", err, calls)
	}
}
