package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// The sample services of the framework's block clients, built with the
// others by buildSamples.
var configwatchBin, ledgerBin string

func init() {
	buildPaths["../testdata/configwatch"] = &configwatchBin
	buildPaths["../testdata/ledger"] = &ledgerBin
}

var configwatchLine = regexp.MustCompile(`(?m)^configwatch\.greeting = (.*)$`)

// seenValues is what a configwatch process printed it saw, in order.
func seenValues(p *proc) []string {
	var out []string
	for _, m := range configwatchLine.FindAllStringSubmatch(p.out.String(), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestConfigWatchInServices: two running services watching the same path
// see every `micro config set`, in order, without a restart.
func TestConfigWatchInServices(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	buildSamples(t)
	procs := []*proc{startService(t, s, configwatchBin), startService(t, s, configwatchBin)}
	if procs[0].nodeID == procs[1].nodeID {
		t.Fatal("both processes have the same node id")
	}
	// Each saw the value when it started watching: none yet.
	for i, p := range procs {
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("process %d to print its first value", i), func() bool { return len(seenValues(p)) >= 1 })
	}

	want := []string{"null"}
	for i := 1; i <= 5; i++ {
		v := fmt.Sprintf(`"Hello %d"`, i)
		c.ok("config", "set", "configwatch.greeting", v)
		want = append(want, v)
	}
	c.ok("config", "del", "configwatch.greeting")
	want = append(want, "null")
	c.ok("config", "set", "configwatch.greeting", `"Back again"`)
	want = append(want, `"Back again"`)

	for i, p := range procs {
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("process %d to see every change", i), func() bool { return len(seenValues(p)) >= len(want) })
		if got := seenValues(p); !slices.Equal(got, want) {
			t.Fatalf("process %d saw %v\nwant %v\noutput:\n%s", i, got, want, p.out.String())
		}
		if p.done() {
			t.Fatalf("process %d exited: %s", i, p.out.String())
		}
	}
	// And serves it: whichever node answers saw the same history.
	var rsp struct {
		Greeting string   `json:"greeting"`
		Seen     []string `json:"seen"`
	}
	out := c.ok("call", "configwatch", "Configwatch.Seen", "{}")
	if err := json.Unmarshal([]byte(out), &rsp); err != nil || rsp.Greeting != "Back again" || !slices.Equal(rsp.Seen, want) {
		t.Fatalf("Configwatch.Seen: %s (%v)", out, err)
	}
}

// TestStoreAndEventsInService: a service consumes a topic in a group with
// explicit acks, writes what it gets to its own store table (the table is
// the service's name), publishes an event of its own, and dead-letters
// what it cannot read after its retry limit.
func TestStoreAndEventsInService(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	buildSamples(t)
	// Published before the service runs: the group starts at the oldest.
	c.ok("events", "publish", "ledger.entries", `{"id":"a","amount":5}`)
	p := startService(t, s, ledgerBin, "LEDGER_RETRY_LIMIT=1")
	c.ok("events", "publish", "ledger.entries", `{"id":"b","amount":7}`)
	c.ok("events", "publish", "ledger.entries", `not json`)

	testkit.Eventually(t, 20*time.Second, "the ledger to record both entries", func() bool { return p.count(" recorded\n") >= 2 })
	// The store's defaults: database = namespace (micro), table = service name.
	if out := c.ok("store", "read", "--table", "ledger", "entry/a"); out != `{"id":"a","amount":5}`+"\n" {
		t.Fatalf("store read --table ledger entry/a: %q", out)
	}
	if out := c.ok("store", "list", "--table", "ledger"); out != "entry/a\nentry/b\n" {
		t.Fatalf("store list --table ledger: %q", out)
	}
	if _, errOut, code := c.run("store", "read", "entry/a"); code == 0 || !strings.Contains(errOut, "Not found") {
		t.Fatalf("the entry is in the default table too: exit %d %s", code, errOut)
	}
	var balance struct{ Balance, Entries int }
	if out := c.ok("call", "ledger", "Ledger.Balance", "{}"); json.Unmarshal([]byte(out), &balance) != nil ||
		balance.Balance != 12 || balance.Entries != 2 {
		t.Fatalf("Ledger.Balance: %q", out)
	}

	// What the service published.
	var recorded []string
	for _, line := range strings.Split(strings.TrimSpace(c.ok("events", "read", "ledger.recorded")), "\n") {
		var ev struct {
			Payload struct {
				ID      string `json:"id"`
				Balance int64  `json:"balance"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("ledger.recorded: %s: %v", line, err)
		}
		recorded = append(recorded, fmt.Sprintf("%s=%d", ev.Payload.ID, ev.Payload.Balance))
	}
	if !slices.Equal(recorded, []string{"a=5", "b=12"}) {
		t.Fatalf("ledger.recorded: %v", recorded)
	}

	// The bad entry was nacked, delivered once more (retry limit 1), then
	// dead-lettered.
	testkit.Eventually(t, 20*time.Second, "the bad entry in ledger.entries.dead", func() bool {
		out, _, code := c.run("events", "read", "ledger.entries.dead")
		return code == 0 && strings.Contains(out, `not json`)
	})
	if n := p.count("event 3 nacked"); n != 2 {
		t.Fatalf("the bad entry was nacked %d times, want 2:\n%s", n, p.out.String())
	}
	if p.count("event 1 recorded") != 1 || p.count("event 2 recorded") != 1 {
		t.Fatalf("an acked event came again:\n%s", p.out.String())
	}
}
