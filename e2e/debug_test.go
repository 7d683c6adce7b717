package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHealthAndStats: micro health and micro stats reach a running
// service's Debug handler through the proxy, and the stats count its calls.
func TestHealthAndStats(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	startService(t, s, helloBinPath(t))
	c := newCLI(t, s)

	if out := c.ok("health", "helloworld"); out != "helloworld\tok\n" {
		t.Fatalf("micro health: %q", out)
	}
	for range 3 {
		c.ok("call", "helloworld", "Helloworld.Call", `{"name":"Jane"}`)
	}
	// A body the service cannot decode: an error it answers.
	if _, _, code := c.run("call", "helloworld", "Helloworld.Call", `{"name":5}`); code == 0 {
		t.Fatal("a call with a bad body succeeded")
	}
	var st struct {
		Service string `json:"service"`
		Stats   struct {
			Uptime, Memory, Threads, Requests, Errors string
		} `json:"stats"`
	}
	out := c.ok("stats", "--output", "json", "helloworld")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("micro stats --output json: %v\n%s", err, out)
	}
	// uint64s are strings in protojson.
	if st.Service != "helloworld" || st.Stats.Requests != "4" || st.Stats.Errors != "1" || st.Stats.Memory == "0" || st.Stats.Threads == "0" {
		t.Fatalf("stats: %+v", st)
	}
	table := c.ok("stats", "helloworld")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "SERVICE") ||
		!strings.HasPrefix(lines[1], "helloworld") || !strings.Contains(lines[1], "MiB") {
		t.Fatalf("micro stats:\n%s", table)
	}
	if _, stderr, code := c.run("health", "nosuch"); code == 0 || !strings.Contains(stderr, "nosuch") {
		t.Fatalf("micro health of a missing service: %d %s", code, stderr)
	}
}
