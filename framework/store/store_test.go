package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/framework/store"
	"micro.dev/micro/node/nodetest"
	pb "micro.dev/micro/proto/store"
)

// rawRead reads a record with the block's own API, to see where the
// framework client put it.
func rawRead(t *testing.T, c client.Client, db, table, key string) (*pb.Record, error) {
	t.Helper()
	rsp := new(pb.ReadResponse)
	req := &pb.ReadRequest{Key: key, Options: &pb.ReadOptions{Database: db, Table: table}}
	if err := c.Call(context.Background(), c.NewRequest("store", "Store.Read", req), rsp); err != nil {
		return nil, err
	}
	return rsp.Records[0], nil
}

// TestDefaults: the database is the client's namespace and the table its
// service's name; options move single calls elsewhere.
func TestDefaults(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "inventory"})
	s := store.NewStore(c)

	if err := s.Write(&store.Record{Key: "apple", Value: []byte("3")}); err != nil {
		t.Fatal(err)
	}
	if r, err := rawRead(t, c, "micro", "inventory", "apple"); err != nil || string(r.Value) != "3" {
		t.Fatalf("raw read of micro/inventory: %v %v", r, err)
	}
	if _, err := rawRead(t, c, "micro", "micro", "apple"); errors.Code(err) != 404 {
		t.Fatalf("the default table must be the service's, not micro: %v", err)
	}
	recs, err := s.Read("apple")
	if err != nil || len(recs) != 1 || string(recs[0].Value) != "3" || recs[0].Expiry != 0 {
		t.Fatalf("read: %v %v", recs, err)
	}

	// Elsewhere, per call and per store.
	if err := s.Write(&store.Record{Key: "pear", Value: []byte("1")}, store.WriteTo("", "fruit")); err != nil {
		t.Fatal(err)
	}
	if r, err := rawRead(t, c, "micro", "fruit", "pear"); err != nil || string(r.Value) != "1" {
		t.Fatalf("WriteTo: %v %v", r, err)
	}
	if _, err := s.Read("pear"); err != store.ErrNotFound {
		t.Fatalf("pear is not in the default table: %v", err)
	}
	if recs, err := store.NewStore(c, store.Table("fruit")).Read("pear"); err != nil || string(recs[0].Value) != "1" {
		t.Fatalf("Table option: %v %v", recs, err)
	}
	if recs, err := s.Read("pear", store.ReadFrom("micro", "fruit")); err != nil || len(recs) != 1 {
		t.Fatalf("ReadFrom: %v %v", recs, err)
	}
	if err := s.Delete("pear", store.DeleteFrom("", "fruit")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("pear", store.ReadFrom("", "fruit")); err != store.ErrNotFound {
		t.Fatalf("after DeleteFrom: %v", err)
	}

	// Another namespace's client writes to that namespace's database.
	acme := n.ServiceAccount("acme", "inventory")
	if err := store.NewStore(acme).Write(&store.Record{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if r, err := rawRead(t, c, "acme", "inventory", "k"); err != nil || string(r.Value) != "v" {
		t.Fatalf("namespace acme: %v %v", r, err)
	}
}

func TestReadListOptions(t *testing.T) {
	n := nodetest.Start(t)
	s := store.NewStore(n.Client(client.Options{Service: "lists"}))
	for _, k := range []string{"user/1", "user/2", "user/3", "order/1", "order/2/user"} {
		if err := s.Write(&store.Record{Key: k, Value: []byte("v-" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	keysOf := func(recs []*store.Record) []string {
		var ks []string
		for _, r := range recs {
			ks = append(ks, r.Key)
		}
		return ks
	}
	for _, tc := range []struct {
		key  string
		opts []store.ReadOption
		want []string
	}{
		{"user/", []store.ReadOption{store.ReadPrefix()}, []string{"user/1", "user/2", "user/3"}},
		{"user/", []store.ReadOption{store.ReadPrefix(), store.ReadOrder(store.OrderDesc), store.ReadLimit(2)}, []string{"user/3", "user/2"}},
		{"user/", []store.ReadOption{store.ReadPrefix(), store.ReadOffset(1), store.ReadLimit(1)}, []string{"user/2"}},
		{"user", []store.ReadOption{store.ReadSuffix()}, []string{"order/2/user"}},
	} {
		recs, err := s.Read(tc.key, tc.opts...)
		if err != nil || !slices.Equal(keysOf(recs), tc.want) {
			t.Errorf("read %q: %v %v, want %v", tc.key, keysOf(recs), err, tc.want)
		}
	}
	for _, tc := range []struct {
		opts []store.ListOption
		want []string
	}{
		{nil, []string{"order/1", "order/2/user", "user/1", "user/2", "user/3"}},
		{[]store.ListOption{store.ListPrefix("order/")}, []string{"order/1", "order/2/user"}},
		{[]store.ListOption{store.ListSuffix("/1")}, []string{"order/1", "user/1"}},
		{[]store.ListOption{store.ListOrder(store.OrderDesc), store.ListLimit(2), store.ListOffset(1)}, []string{"user/2", "user/1"}},
		{[]store.ListOption{store.ListFrom("", "empty")}, nil},
	} {
		keys, err := s.List(tc.opts...)
		if err != nil || !slices.Equal(keys, tc.want) {
			t.Errorf("list %d options: %v %v, want %v", len(tc.opts), keys, err, tc.want)
		}
	}
	// Bad input comes back as the block's 400.
	if _, err := s.Read("x", store.ReadOrder("sideways")); errors.Code(err) != 400 {
		t.Fatalf("bad order: %v", err)
	}
	if err := s.Write(&store.Record{Key: ""}); errors.Code(err) != 400 {
		t.Fatalf("empty key: %v", err)
	}
	if err := s.Write(nil); errors.Code(err) != 400 {
		t.Fatalf("nil record: %v", err)
	}
}

func TestExpiryAndMetadata(t *testing.T) {
	n := nodetest.Start(t)
	s := store.NewStore(n.Client(client.Options{Service: "exp"}))

	// A sub-second expiry is rounded up, never to 0 (forever).
	if err := s.Write(&store.Record{Key: "short", Value: []byte("x"), Expiry: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Read("short"); err != nil || recs[0].Expiry != time.Second {
		t.Fatalf("short: %v %v", recs, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Read("short")
		if err == store.ErrNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short never expired: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := s.Write(&store.Record{Key: "ttl", Value: []byte("x"), Expiry: time.Second}, store.WriteTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Read("ttl"); err != nil || recs[0].Expiry <= 59*time.Minute || recs[0].Expiry > time.Hour {
		t.Fatalf("WriteTTL overrides Record.Expiry: %v %v", recs[0].Expiry, err)
	}
	if err := s.Write(&store.Record{Key: "at", Value: []byte("x")}, store.WriteExpiry(time.Now().Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Read("at"); err != nil || recs[0].Expiry <= time.Hour || recs[0].Expiry > 2*time.Hour {
		t.Fatalf("WriteExpiry: %v %v", recs[0].Expiry, err)
	}
	if err := s.Write(&store.Record{Key: "past"}, store.WriteExpiry(time.Now().Add(-time.Minute))); errors.Code(err) != 400 {
		t.Fatalf("expiry in the past: %v", err)
	}
	if err := s.Write(&store.Record{Key: "neg", Expiry: -time.Second}); errors.Code(err) != 400 {
		t.Fatalf("negative expiry: %v", err)
	}

	md := map[string]any{"s": "text", "b": true, "i": 42, "i64": int64(-7), "u8": uint8(200), "f": 1.5,
		"obj": map[string]any{"a": []any{1.0, "x"}}, "dur": 3 * time.Second}
	if err := s.Write(&store.Record{Key: "md", Value: []byte("x"), Metadata: md}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read("md")
	if err != nil {
		t.Fatal(err)
	}
	got := recs[0].Metadata
	want := map[string]any{"s": "text", "b": true, "i": 42, "i64": int64(-7), "u8": uint8(200), "f": 1.5,
		"obj": map[string]any{"a": []any{1.0, "x"}}, "dur": float64(3 * time.Second)}
	for k, w := range want {
		if g := got[k]; !equalJSONish(g, w) {
			t.Errorf("metadata %s: %#v (%T), want %#v (%T)", k, g, g, w, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("metadata %v", got)
	}
}

func equalJSONish(a, b any) bool {
	switch bv := b.(type) {
	case map[string]any:
		am, ok := a.(map[string]any)
		if !ok || len(am) != len(bv) {
			return false
		}
		for k := range bv {
			if !equalJSONish(am[k], bv[k]) {
				return false
			}
		}
		return true
	case []any:
		as, ok := a.([]any)
		if !ok || len(as) != len(bv) {
			return false
		}
		for i := range bv {
			if !equalJSONish(as[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestPackageDefaults: without a service the package-level functions say
// what is missing; service.New makes them use its client, namespace and
// name; SetDefault swaps in another Store.
func TestPackageDefaults(t *testing.T) {
	client.SetDefault(nil)
	if _, err := store.Read("x"); err != client.ErrNoDefault || !strings.Contains(err.Error(), "service.New") {
		t.Fatalf("no default: %v", err)
	}

	n := nodetest.Start(t)
	srv := service.New(service.Name("cart"), service.Proxy(n.Proxy()), service.Credentials("admin", "micro"),
		service.Logger(nodetest.Quiet()), service.HandleSignal(false))
	if client.Default() != srv.Client() {
		t.Fatal("service.New did not install its client as the default")
	}
	if err := store.Write(&store.Record{Key: "item", Value: []byte("book")}); err != nil {
		t.Fatal(err)
	}
	if r, err := rawRead(t, n.Client(client.Options{}), "micro", "cart", "item"); err != nil || string(r.Value) != "book" {
		t.Fatalf("package Write went to micro/cart? %v %v", r, err)
	}
	if keys, err := store.List(); err != nil || !slices.Equal(keys, []string{"item"}) {
		t.Fatalf("package List: %v %v", keys, err)
	}
	if err := store.Delete("item"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Read("item"); err != store.ErrNotFound {
		t.Fatalf("after package Delete: %v", err)
	}

	fake := &fakeStore{}
	store.SetDefault(fake)
	if _, err := store.Read("anything"); err != nil || fake.reads != 1 {
		t.Fatalf("SetDefault: %v %d", err, fake.reads)
	}
	store.SetDefault(nil)

	srv.Stop()
	if client.Default() != nil {
		t.Fatal("a stopped service's client is still the default")
	}
}

type fakeStore struct{ reads int }

func (f *fakeStore) Read(string, ...store.ReadOption) ([]*store.Record, error) {
	f.reads++
	return nil, nil
}
func (f *fakeStore) Write(*store.Record, ...store.WriteOption) error { return nil }
func (f *fakeStore) Delete(string, ...store.DeleteOption) error      { return nil }
func (f *fakeStore) List(...store.ListOption) ([]string, error)      { return nil, nil }

// TestCompareAndSet: Read reports the revision; a write or delete with a
// stale one is a 412 and changes nothing.
func TestCompareAndSet(t *testing.T) {
	n := nodetest.Start(t)
	s := store.NewStore(n.Client(client.Options{Service: "cas"}))
	if err := s.Write(&store.Record{Key: "k", Value: []byte("a")}, store.WriteIfRevision(0)); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read("k")
	if err != nil || recs[0].Revision != 1 {
		t.Fatalf("read: %v %v", recs, err)
	}
	if err := s.Write(&store.Record{Key: "k", Value: []byte("b")}, store.WriteIfRevision(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(&store.Record{Key: "k", Value: []byte("c")}, store.WriteIfRevision(1)); errors.Code(err) != 412 {
		t.Fatalf("stale write: %v", err)
	}
	if err := s.Delete("k", store.DeleteIfRevision(1)); errors.Code(err) != 412 {
		t.Fatalf("stale delete: %v", err)
	}
	if recs, err := s.Read("k"); err != nil || string(recs[0].Value) != "b" || recs[0].Revision != 2 {
		t.Fatalf("after conflicts: %v %v", recs, err)
	}
	if err := s.Delete("k", store.DeleteIfRevision(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("k"); err != store.ErrNotFound {
		t.Fatalf("after delete: %v", err)
	}
}
