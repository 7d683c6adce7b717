package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// TestMicroV3Services: two services whose Go is Micro v3's but for the
// import paths run under micro run and answer through the CLI.
// testdata/greeter is the package-level form (service.Handle,
// service.Subscribe, service.Run; the name comes from micro run), and
// sees its caller's verified account; testdata/settings reads its config
// with config.Get, Micro's nil checks, Scan and the typed accessors.
func TestMicroV3Services(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	for _, dir := range []string{"greeter", "settings"} {
		src, err := filepath.Abs("../testdata/" + dir)
		if err != nil {
			t.Fatal(err)
		}
		c.ok("run", src)
	}
	waitStatus(t, c, "greeter", "running")
	waitStatus(t, c, "settings", "running")

	// The package-level form: endpoints, the caller, a subscriber.
	call := func(service, endpoint, body string, rsp any) {
		t.Helper()
		var out string
		testkit.Eventually(t, 30*time.Second, service+" to answer", func() bool {
			o, _, code := c.run("call", service, endpoint, body)
			out = o
			return code == 0
		})
		if err := json.Unmarshal([]byte(out), rsp); err != nil {
			t.Fatalf("%s %s: %q: %v", service, endpoint, out, err)
		}
	}
	var hello struct{ Msg string }
	call("greeter", "Greeter.Call", `{"name":"Jane"}`, &hello)
	if hello.Msg != "Hello Jane" {
		t.Fatalf("Greeter.Call: %+v", hello)
	}
	var who struct {
		ID     string   `json:"id"`
		Type   string   `json:"type"`
		Issuer string   `json:"issuer"`
		Scopes []string `json:"scopes"`
	}
	call("greeter", "Greeter.Whoami", `{}`, &who)
	if who.ID != "admin" || who.Type != "user" || who.Issuer != "micro" || !strings.Contains(strings.Join(who.Scopes, " "), "admin") {
		t.Fatalf("Greeter.Whoami as the admin: %+v", who)
	}
	testkit.Eventually(t, 10*time.Second, "the greeting event to reach the subscriber", func() bool {
		var last struct{ Name string }
		call("greeter", "Greeter.Last", `{}`, &last)
		return last.Name == "Jane"
	})

	// config.Get: defaults while nothing is set, then what micro config
	// set wrote.
	type settings struct {
		Greeting string
		Limits   struct{ Max, Burst int }
		Max      int
		Debug    bool
		Key      string
		Missing  string
		Raw      string
	}
	var got settings
	call("settings", "Settings.Read", `{}`, &got)
	if got.Greeting != "Hello" || got.Max != 10 || got.Debug || got.Key != "" || got.Missing != "default" || got.Raw != "null" {
		t.Fatalf("settings before any config: %+v", got)
	}
	c.ok("config", "set", "settings.greeting", `"Howdy"`)
	c.ok("config", "set", "settings.limits", `{"max":5,"burst":2}`)
	c.ok("config", "set", "settings.debug", "true")
	c.ok("config", "set", "--secret", "settings.key", `"s3cr3t"`)
	got = settings{}
	call("settings", "Settings.Read", `{}`, &got)
	want := settings{Greeting: "Howdy", Max: 5, Debug: true, Key: "s3cr3t", Missing: "default", Raw: "null"}
	want.Limits.Max, want.Limits.Burst = 5, 2
	if got != want {
		t.Fatalf("settings after micro config set:\n got %+v\nwant %+v", got, want)
	}
}
