package config_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/config"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/node/nodetest"
)

func TestGetSetDelete(t *testing.T) {
	n := nodetest.Start(t)
	c := config.NewConfig(n.Client(client.Options{}))

	// Nothing at all yet: null, not an error (Micro's 404 becomes null).
	if v, err := c.Get("helloworld.greeting"); err != nil || v.Exists() {
		t.Fatalf("empty namespace: %v %v", v, err)
	}
	if err := c.Set("helloworld.greeting", "Hi"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("helloworld.db", map[string]any{"host": "localhost", "port": 5432}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("helloworld.timeout", "2s"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("helloworld.apikey", "xyz", config.Secret(true)); err != nil {
		t.Fatal(err)
	}
	get := func(path string, opts ...config.Option) config.Value {
		t.Helper()
		v, err := c.Get(path, opts...)
		if err != nil {
			t.Fatalf("get %s: %v", path, err)
		}
		return v
	}
	if s := get("helloworld.greeting").String(""); s != "Hi" {
		t.Fatalf("greeting %q", s)
	}
	if p := get("helloworld.db.port").Int(0); p != 5432 {
		t.Fatalf("port %d", p)
	}
	if d := get("helloworld.timeout").Duration(0); d != 2*time.Second {
		t.Fatalf("timeout %v", d)
	}
	var db struct {
		Host string
		Port int
	}
	if err := get("helloworld.db").Scan(&db); err != nil || db.Host != "localhost" || db.Port != 5432 {
		t.Fatalf("scan %+v %v", db, err)
	}
	if s := get("helloworld.apikey").String(""); s != "[secret]" {
		t.Fatalf("masked secret %q", s)
	}
	if s := get("helloworld.apikey", config.Secret(true)).String(""); s != "xyz" {
		t.Fatalf("secret %q", s)
	}
	if v := get("helloworld.missing"); v.Exists() {
		t.Fatalf("missing path: %s", v.JSON())
	}
	if err := c.Delete("helloworld.db"); err != nil {
		t.Fatal(err)
	}
	if v := get("helloworld.db.port"); v.Exists() {
		t.Fatalf("deleted: %s", v.JSON())
	}

	// Bad input: the block's 400s, and values JSON cannot encode.
	if err := c.Set("helloworld.greeting.x", 1); errors.Code(err) != 400 || !strings.Contains(err.Error(), "not an object") {
		t.Fatalf("through a scalar: %v", err)
	}
	if err := c.Set("", 1); errors.Code(err) != 400 {
		t.Fatalf("empty path: %v", err)
	}
	if err := c.Set("x", make(chan int)); errors.Code(err) != 400 {
		t.Fatalf("unencodable: %v", err)
	}

	// Namespaces are apart.
	other := config.NewConfig(n.Client(client.Options{}), config.Namespace("acme"))
	if v, err := other.Get("helloworld.greeting"); err != nil || v.Exists() {
		t.Fatalf("acme sees micro's config: %v %v", v.JSON(), err)
	}
}

// collect reads n values from w, failing after a deadline.
func collect(t *testing.T, w *config.Watcher, n int) []string {
	t.Helper()
	type result struct {
		v   config.Value
		err error
	}
	var got []string
	for len(got) < n {
		ch := make(chan result, 1)
		go func() { v, err := w.Next(); ch <- result{v, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("next after %v: %v", got, r.err)
			}
			got = append(got, r.v.JSON())
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out after %v", got)
		}
	}
	return got
}

// TestWatch: two watchers (two clients, as two services would be) each
// see the value when they start and then every change, in order, without
// repeats of an unchanged value; Stop ends a watch.
func TestWatch(t *testing.T) {
	n := nodetest.Start(t)
	setter := config.NewConfig(n.Client(client.Options{}))
	if err := setter.Set("svc.greeting", "v0"); err != nil {
		t.Fatal(err)
	}
	var watchers []*config.Watcher
	for range 2 {
		w, err := config.NewConfig(n.Client(client.Options{})).Watch("svc.greeting")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		watchers = append(watchers, w)
	}
	want := []string{`"v0"`}
	for i := 1; i <= 20; i++ {
		v := fmt.Sprintf("v%d", i)
		if err := setter.Set("svc.greeting", v); err != nil {
			t.Fatal(err)
		}
		want = append(want, `"`+v+`"`)
		if i == 10 {
			// Neither a sibling's change nor the same value again is a
			// change of svc.greeting.
			setter.Set("svc.other", 1)
			setter.Set("svc.greeting", v)
		}
	}
	setter.Delete("svc")
	want = append(want, "null")

	var wg sync.WaitGroup
	results := make([][]string, len(watchers))
	for i, w := range watchers {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = collect(t, w, len(want)) }()
	}
	wg.Wait()
	for i, got := range results {
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("watcher %d saw %v\nwant %v", i, got, want)
		}
	}

	watchers[0].Stop()
	if _, err := watchers[0].Next(); err != config.ErrWatcherStopped {
		t.Fatalf("after Stop: %v", err)
	}
	// A refused watch is Watch's error.
	anon, err := client.New(client.Options{Proxy: n.Proxy()})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := config.NewConfig(anon).Watch("x"); errors.Code(err) != 401 {
		t.Fatalf("anonymous watch: %v", err)
	}
}

// TestWatchReconnects: a watcher outlives a server restart and carries on
// with the changes made after it.
func TestWatchReconnects(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{})
	cfg := config.NewConfig(c, config.Logger(nodetest.Quiet()))
	if err := cfg.Set("svc.level", 1); err != nil {
		t.Fatal(err)
	}
	w, err := cfg.Watch("svc.level")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := collect(t, w, 1); got[0] != "1" {
		t.Fatalf("first %v", got)
	}

	n.Restart()
	// The same client's first calls may find the connection still down.
	deadline := time.Now().Add(20 * time.Second)
	for err := cfg.Set("svc.level", 2); err != nil; err = cfg.Set("svc.level", 2) {
		if errors.Code(err) != 503 || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cfg.Set("svc.level", 3); err != nil {
		t.Fatal(err)
	}
	// Whether it reconnected before or after the first set, it resumes
	// from its revision, so both changes come, in order.
	if got := collect(t, w, 2); got[0] != "2" || got[1] != "3" {
		t.Fatalf("after the restart: %v", got)
	}
}

// TestPackageLevel: inside a service, config.Get/Set/Watch use its client
// and namespace.
func TestPackageLevel(t *testing.T) {
	n := nodetest.Start(t)
	srv := service.New(service.Name("shop"), service.Namespace("micro"), service.Proxy(n.Proxy()),
		service.Credentials("admin", "micro"), service.Logger(nodetest.Quiet()), service.HandleSignal(false))
	defer srv.Stop()
	w, err := config.Watch("shop.banner")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := config.Set("shop.banner", "sale"); err != nil {
		t.Fatal(err)
	}
	if v, err := config.Get("shop.banner"); err != nil || v.String("") != "sale" {
		t.Fatalf("get %v %v", v.JSON(), err)
	}
	if got := collect(t, w, 2); got[0] != "null" || got[1] != `"sale"` {
		t.Fatalf("watch %v", got)
	}
	if err := config.Delete("shop"); err != nil {
		t.Fatal(err)
	}
}
