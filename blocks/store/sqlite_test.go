package store

import (
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

func TestRevisionAndTimes(t *testing.T) {
	clk := testkit.NewClock()
	b := newSQLite(openDB(t), clk.Now, newHub())
	ctx := t.Context()
	get := func(key string) Record {
		t.Helper()
		recs, err := b.Read(ctx, "db", "t", Query{Key: key})
		if err != nil || len(recs) != 1 {
			t.Fatalf("read %s: %v %v", key, recs, err)
		}
		return recs[0]
	}
	write := func(r Record) {
		t.Helper()
		if _, err := b.Write(ctx, "db", "t", r, nil); err != nil {
			t.Fatal(err)
		}
	}

	created := clk.Now()
	write(Record{Key: "k", Value: []byte("1")})
	clk.Advance(time.Second)
	write(Record{Key: "k", Value: []byte("2"), Metadata: map[string]Field{"a": {Type: "string", Value: "b"}}})
	r := get("k")
	if r.Revision != 2 || !r.Created.Equal(created) || !r.Updated.Equal(clk.Now()) || string(r.Value) != "2" || r.Metadata["a"].Value != "b" {
		t.Fatalf("after two writes: %+v", r)
	}

	// A write over an expired record starts it afresh.
	write(Record{Key: "k", Value: []byte("3"), ExpiresAt: clk.Now().Add(time.Second)})
	if r := get("k"); r.Revision != 3 || !r.ExpiresAt.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("third write: %+v", r)
	}
	clk.Advance(time.Second)
	write(Record{Key: "k", Value: []byte("4")})
	if r := get("k"); r.Revision != 1 || !r.Created.Equal(clk.Now()) || !r.ExpiresAt.IsZero() {
		t.Fatalf("write after expiry: %+v", r)
	}

	// So does a write after a delete.
	if err := b.Delete(ctx, "db", "t", "k", nil); err != nil {
		t.Fatal(err)
	}
	write(Record{Key: "k"})
	if r := get("k"); r.Revision != 1 || len(r.Value) != 0 {
		t.Fatalf("write after delete: %+v", r)
	}
}

func TestPrefixRangeEdges(t *testing.T) {
	b := newSQLite(openDB(t), time.Now, newHub())
	ctx := t.Context()
	keys := []string{"é", "éa", "ê", "e", "\xff", "\xff\xff", "\xffa", "ÿ", "ÿz", "k\x00nul", "k"}
	for _, k := range keys {
		if _, err := b.Write(ctx, "db", "t", Record{Key: k}, nil); err != nil {
			t.Fatalf("write %q: %v", k, err)
		}
	}
	cases := []struct {
		q    Query
		want []string
	}{
		{Query{Prefix: "é"}, []string{"é", "éa"}},
		{Query{Prefix: "ÿ"}, []string{"ÿ", "ÿz"}}, // ÿ is c3 bf: the bound carries into the lead byte
		{Query{Prefix: "\xff"}, []string{"\xff", "\xffa", "\xff\xff"}},
		{Query{Prefix: "\xff\xff"}, []string{"\xff\xff"}},
		{Query{Prefix: "k"}, []string{"k", "k\x00nul"}},
		{Query{Suffix: "a"}, []string{"éa", "\xffa"}},
		{Query{Suffix: "nul"}, []string{"k\x00nul"}},
		{Query{Key: "k\x00nul"}, []string{"k\x00nul"}},
	}
	for _, c := range cases {
		got, err := b.List(ctx, "db", "t", c.q)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "list "+c.q.Prefix+"|"+c.q.Suffix+"|"+c.q.Key, got, c.want)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in, end string
		ok      bool
	}{
		{"a", "b", true},
		{"a%", "a&", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"\xc3\xbf", "\xc3\xc0", true},
	}
	for _, c := range cases {
		end, ok := prefixEnd(c.in)
		if end != c.end || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q %v, want %q %v", c.in, end, ok, c.end, c.ok)
		}
	}
}
