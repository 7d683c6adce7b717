package model_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/model"
	"micro.dev/micro/node/nodetest"
	pb "micro.dev/micro/proto/store"
)

type User struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Country string `json:"country"`
	Age     int    `json:"age"`
}

func newUsers(c client.Client) *model.Model[User] {
	return model.New(User{}, model.WithClient(c), model.Table("users"),
		model.Indexes(model.Unique("email"), model.ByEquality("country"), model.ByEquality("Age")))
}

// rawKeys lists the keys of the model's table, as the store block has them.
func rawKeys(t *testing.T, c client.Client) map[string]string {
	t.Helper()
	rsp := new(pb.ReadResponse)
	req := &pb.ReadRequest{Options: &pb.ReadOptions{Table: "users", Prefix: true}}
	if err := c.Call(context.Background(), c.NewRequest("store", "Store.Read", req), rsp); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rsp.Records {
		out[r.Key] = string(r.Value)
	}
	return out
}

func ids(us []User) string {
	var s []string
	for _, u := range us {
		s = append(s, u.ID)
	}
	return strings.Join(s, ",")
}

func TestIndexLookupsAndUniqueness(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "accounts"})
	users := newUsers(c)

	for _, u := range []User{
		{ID: "1", Email: "c@x", Country: "uk", Age: 30},
		{ID: "2", Email: "a@x", Country: "fr", Age: -5},
		{ID: "3", Email: "b@x", Country: "uk", Age: 200},
		{ID: "4", Email: "a", Country: "uk", Age: 7},
	} {
		if err := users.Create(u); err != nil {
			t.Fatal(err)
		}
	}
	var u User
	if err := users.Read(model.QueryEquals("email", "b@x"), &u); err != nil || u.ID != "3" {
		t.Fatalf("read by email: %+v %v", u, err)
	}
	if err := users.Read(model.QueryByID("2"), &u); err != nil || u.Email != "a@x" {
		t.Fatalf("read by id: %+v %v", u, err)
	}
	if err := users.Read(model.QueryEquals("email", "nobody@x"), &u); err != model.ErrNotFound {
		t.Fatalf("missing: %v", err)
	}
	var list []User
	if err := users.List(model.QueryEquals("country", "uk"), &list); err != nil || ids(list) != "1,3,4" {
		t.Fatalf("by country: %s %v", ids(list), err)
	}
	// Ordered by the index, "a" before "a@x"; desc; paged.
	if err := users.List(model.QueryEquals("email", ""), &list); err != nil || ids(list) != "4,2,3,1" {
		t.Fatalf("all by email: %s %v", ids(list), err)
	}
	if err := users.List(model.QueryEquals("email", "").Desc().Offset(1).Limit(2), &list); err != nil || ids(list) != "3,2" {
		t.Fatalf("by email desc, page 2: %s %v", ids(list), err)
	}
	if err := users.List(model.QueryEquals("age", 0), &list); err != nil || ids(list) != "2,4,1,3" {
		t.Fatalf("all by age (negative first): %s %v", ids(list), err)
	}
	if err := users.List(model.QueryAll().Desc(), &list); err != nil || ids(list) != "4,3,2,1" {
		t.Fatalf("all by id desc: %s %v", ids(list), err)
	}

	// Uniqueness: a second record with a taken email, on create or update,
	// is a 409 and changes nothing.
	before := rawKeys(t, c)
	if err := users.Create(User{ID: "5", Email: "a@x"}); errors.Code(err) != 409 {
		t.Fatalf("create with a taken email: %v", err)
	}
	if err := users.Create(User{ID: "1", Email: "new@x"}); errors.Code(err) != 409 {
		t.Fatalf("create with a taken id: %v", err)
	}
	if err := users.Update(User{ID: "1", Email: "a@x", Country: "de"}); errors.Code(err) != 409 {
		t.Fatalf("update to a taken email: %v", err)
	}
	if after := rawKeys(t, c); len(after) != len(before) {
		t.Fatalf("refused writes changed the table: %d keys, then %d", len(before), len(after))
	}

	// Update moves the entries: the old email is free, the new one found.
	if err := users.Update(User{ID: "1", Email: "z@x", Country: "de", Age: 30}); err != nil {
		t.Fatal(err)
	}
	if err := users.Read(model.QueryEquals("email", "c@x"), &u); err != model.ErrNotFound {
		t.Fatalf("old email still found: %+v %v", u, err)
	}
	if err := users.Read(model.QueryEquals("email", "z@x"), &u); err != nil || u.Country != "de" {
		t.Fatalf("new email: %+v %v", u, err)
	}
	if err := users.Create(User{ID: "6", Email: "c@x"}); err != nil {
		t.Fatalf("the freed email: %v", err)
	}
	if err := users.Update(User{ID: "404", Email: "q@x"}); errors.Code(err) != 404 {
		t.Fatalf("update of a missing record: %v", err)
	}

	// A lookup goes through the index: with its entry gone (by hand, below
	// the model), the record is not found by email although it exists.
	key := "user/u/email/b@x"
	if _, ok := rawKeys(t, c)[key]; !ok {
		t.Fatalf("no index key %q in %v", key, rawKeys(t, c))
	}
	req := &pb.DeleteRequest{Key: key, Options: &pb.DeleteOptions{Table: "users"}}
	if err := c.Call(context.Background(), c.NewRequest("store", "Store.Delete", req), new(pb.DeleteResponse)); err != nil {
		t.Fatal(err)
	}
	if err := users.Read(model.QueryEquals("email", "b@x"), &u); err != model.ErrNotFound {
		t.Fatalf("found without its index entry, so by a scan: %+v %v", u, err)
	}

	// Delete takes the entries with the record.
	if err := users.Delete(model.QueryEquals("country", "uk")); err != nil {
		t.Fatal(err)
	}
	if err := users.List(model.QueryAll(), &list); err != nil || ids(list) != "1,2,6" {
		t.Fatalf("after delete: %s %v", ids(list), err)
	}
	checkConsistent(t, c, false)
	if err := users.Delete(model.QueryEquals("email", "")); errors.Code(err) != 400 {
		t.Fatalf("delete with a zero value: %v", err)
	}
	if err := users.Read(model.QueryEquals("name", "x"), &u); errors.Code(err) != 400 {
		t.Fatalf("query on a field without an index: %v", err)
	}
	if err := model.New(struct{ Name string }{}).Create(struct{ Name string }{"x"}); errors.Code(err) != 400 {
		t.Fatalf("a type without an id: %v", err)
	}
}

// checkConsistent: every index entry points at a record holding its value,
// and every record has its entries.
func checkConsistent(t *testing.T, c client.Client, allowEmpty bool) int {
	t.Helper()
	keys := rawKeys(t, c)
	records := 0
	for k, v := range keys {
		id, ok := strings.CutPrefix(k, "user/r/")
		if !ok {
			continue
		}
		records++
		var u User
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"user/u/email/" + u.Email,
			"user/i/country/" + u.Country + "\x01\x01" + id,
			fmt.Sprintf("user/i/age/%016x\x01\x01%s", uint64(int64(u.Age))^(1<<63), id),
		} {
			if keys[want] != id {
				t.Errorf("record %s (%+v) has no index entry %q", id, u, want)
			}
		}
	}
	entries := 0
	for k, id := range keys {
		if strings.HasPrefix(k, "user/r/") {
			continue
		}
		entries++
		rec, ok := keys["user/r/"+id]
		if !ok {
			t.Errorf("index entry %q points at record %s, which does not exist", k, id)
			continue
		}
		var u User
		json.Unmarshal([]byte(rec), &u)
		if !strings.Contains(k, "/email/"+u.Email) && !strings.Contains(k, "/country/"+u.Country+"\x01") && !strings.Contains(k, "/age/") {
			t.Errorf("index entry %q does not match record %+v", k, u)
		}
	}
	if entries != 3*records {
		t.Errorf("%d index entries for %d records, want %d", entries, records, 3*records)
	}
	if records == 0 && !allowEmpty {
		t.Fatal("no records")
	}
	return records
}

// TestMain runs the writer child of TestConsistentAfterKill when asked.
func TestMain(m *testing.M) {
	if proxy := os.Getenv("MODEL_TEST_WRITER"); proxy != "" {
		writer(proxy)
		return
	}
	os.Exit(m.Run())
}

// writer creates and updates users forever, printing a line per write,
// changing every indexed field each time.
func writer(proxy string) {
	c, err := client.New(client.Options{Proxy: proxy, ID: "admin", Secret: "micro", Service: "accounts"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	users := newUsers(c)
	for i := 0; ; i++ {
		u := User{ID: fmt.Sprint(i % 10), Email: fmt.Sprintf("u%d@x", i), Country: fmt.Sprint("c", i%3), Age: i}
		err := users.Update(u)
		if errors.Code(err) == 404 {
			err = users.Create(u)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("ok")
	}
}

// TestConsistentAfterKill kills -9 a child process in the middle of its
// writes, several times; the index and the records always agree.
func TestConsistentAfterKill(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "accounts"})
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MODEL_TEST_WRITER="+n.Proxy())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		writes := 0
		for writes < 30+round*7 && lines.Scan() {
			writes++
		}
		cmd.Process.Kill() // SIGKILL, mid-loop
		cmd.Wait()
		if writes < 30+round*7 {
			t.Fatalf("the writer stopped after %d writes: %s", writes, stderr.String())
		}
		records := checkConsistent(t, c, false)
		t.Logf("round %d: killed after %d writes; %d records, all indexed", round, writes, records)
	}
}

// TestServiceAccount: a service's own account (what the runtime gives it)
// keeps a model in its namespace; another namespace's service does not see
// it.
func TestServiceAccount(t *testing.T) {
	n := nodetest.Start(t)
	acme := n.ServiceAccount("acme", "accounts")
	users := model.New(User{}, model.WithClient(acme), model.Indexes(model.Unique("email")))
	if err := users.Create(User{ID: "1", Email: "a@acme"}); err != nil {
		t.Fatal(err)
	}
	var u User
	if err := users.Read(model.QueryEquals("email", "a@acme"), &u); err != nil || u.ID != "1" {
		t.Fatalf("read: %+v %v", u, err)
	}
	other := model.New(User{}, model.WithClient(n.ServiceAccount("other", "accounts")), model.Indexes(model.Unique("email")))
	if err := other.Read(model.QueryEquals("email", "a@acme"), &u); err != model.ErrNotFound {
		t.Fatalf("another namespace's service: %v", err)
	}
	spy := model.New(User{}, model.WithClient(n.ServiceAccount("other", "spy")), model.Database("acme"), model.Table("accounts"),
		model.Indexes(model.Unique("email")))
	if err := spy.Read(model.QueryEquals("email", "a@acme"), &u); errors.Code(err) != 403 {
		t.Fatalf("reading acme's database from namespace other: %v", err)
	}
}

// TestReindex: records written before an index existed are found by it
// after Reindex, and the entries of an index since removed are deleted.
func TestReindex(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "accounts"})
	opts := []model.Option{model.WithClient(c), model.Table("users")}
	before := model.New(User{}, append(opts, model.Indexes(model.Unique("email")))...)
	for i := range 5 {
		if err := before.Create(User{ID: fmt.Sprint(i), Email: fmt.Sprintf("u%d@x", i), Country: "c" + fmt.Sprint(i%2), Age: i}); err != nil {
			t.Fatal(err)
		}
	}
	after := newUsers(c) // email, country, age
	var list []User
	if err := after.List(model.QueryEquals("country", "c1"), &list); err != nil || len(list) != 0 {
		t.Fatalf("before Reindex the new index is empty: %s %v", ids(list), err)
	}
	written, deleted, err := after.Reindex()
	if err != nil || written != 10 || deleted != 0 {
		t.Fatalf("reindex: wrote %d, deleted %d, %v; want 10 and 0", written, deleted, err)
	}
	if err := after.List(model.QueryEquals("country", "c1"), &list); err != nil || ids(list) != "1,3" {
		t.Fatalf("after Reindex: %s %v", ids(list), err)
	}
	checkConsistent(t, c, false)
	if w, d, err := after.Reindex(); err != nil || w != 0 || d != 0 {
		t.Fatalf("a second Reindex: wrote %d, deleted %d, %v", w, d, err)
	}

	// Dropping the age index: Reindex deletes its entries.
	fewer := model.New(User{}, append(opts, model.Indexes(model.Unique("email"), model.ByEquality("country")))...)
	if _, deleted, err := fewer.Reindex(); err != nil || deleted != 5 {
		t.Fatalf("dropped index: deleted %d, %v", deleted, err)
	}
	for k := range rawKeys(t, c) {
		if strings.Contains(k, "/age/") {
			t.Fatalf("entry %q of the dropped index is left", k)
		}
	}

	// A new unique index two records share is refused, naming the field.
	byCountry := model.New(User{}, append(opts, model.Indexes(model.Unique("email"), model.Unique("country")))...)
	if _, _, err := byCountry.Reindex(); errors.Code(err) != 409 || !strings.Contains(err.Error(), "country") {
		t.Fatalf("a unique index on shared values: %v", err)
	}
}
