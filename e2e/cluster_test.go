package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
	eventspb "micro.dev/micro/proto/events"
	storepb "micro.dev/micro/proto/store"
)

const clusterSecret = "e2e-cluster-secret-0123456789"

// clusterNode is one `micro server --cluster` of a test cluster, with
// what it takes to start it again on the same data and route port.
type clusterNode struct {
	*server
	name    string // A, B, C
	data    string
	forward string // --cluster-forward
	args    []string
	// owner is the test the node lives as long as: a node started again
	// in a subtest must outlive that subtest.
	owner *testing.T
}

// startClusterNodes starts n nodes on loopback, each routed to the others,
// all at once: a node is ready only once a majority is up.
func startClusterNodes(t *testing.T, n int) []*clusterNode {
	t.Helper()
	routes := make([]string, n)
	for i := range routes {
		routes[i] = testkit.FreeAddr(t)
	}
	dir := t.TempDir()
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		name := string(rune('A' + i))
		nodes[i] = &clusterNode{name: name, data: filepath.Join(dir, name+".db"), owner: t, forward: testkit.FreeAddr(t)}
		nodes[i].args = []string{"--cluster", "nats://" + routes[i], "--cluster-peers", strings.Join(routes, ","),
			"--cluster-secret", clusterSecret, "--cluster-wait", "60s", "--cluster-forward", nodes[i].forward}
		nodes[i].server = launchServer(t, nil, nodes[i].data, nil, nodes[i].args...)
	}
	for _, nd := range nodes {
		nd.waitStarted()
	}
	return nodes
}

// restart starts a stopped node again on its data file and route port,
// from test t (a subtest, perhaps); the process lives as long as the
// node's owner, not as long as t.
func (nd *clusterNode) restart(t *testing.T) {
	t.Helper()
	nd.server = launchServer(nd.owner, nil, nd.data, nil, nd.args...)
	nd.server.t = t // waitStarted fails t, from t's goroutine
	nd.waitStarted()
	nd.server.t = nd.owner
}

// TestCluster is issue 16's proof on one machine: three nodes on loopback;
// a write on one read on the others, and in a backup taken through
// another, which an appliance serves; a service run on A called through
// C's gateway, which forwards it to A's proxy; kill -9 of a node while a
// writer goes on loses no acknowledged write, and the node, started again,
// catches up; auth answers through every node after that restart, and
// through the two left when one is down for good.
func TestCluster(t *testing.T) {
	t.Parallel()
	nodes := startClusterNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	cliA, cliB, cliC := newAdminCLI(t, a.server), newAdminCLI(t, b.server), newAdminCLI(t, c.server)

	status := cliB.ok("cluster", "status")
	for _, want := range []string{"Cluster micro: 3 nodes, 3 replicas per stream", "KV_micro_store", "store     jetstream", "registry  jetstream", "events    jetstream", "runtime   jetstream", "sync      jetstream",
		"FORWARD", a.forward, b.forward, c.forward} {
		if !strings.Contains(status, want) {
			t.Fatalf("micro cluster status lacks %q:\n%s", want, status)
		}
	}
	if out := cliC.ok("network", "nodes"); strings.Count(out, "127.0.0.1:") != 3 {
		t.Fatalf("micro network nodes on C lists not the three nodes:\n%s", out)
	}
	if code, body := get(t, c.gateway+"/health"); code != 200 || !strings.Contains(body, `"online":3`) {
		t.Fatalf("/health on C: %d %s", code, body)
	}

	t.Run("store", func(t *testing.T) {
		cliA.ok("store", "write", "greeting", "written on A")
		for _, cl := range []*cli{cliB, cliC} {
			testkit.Eventually(t, 10*time.Second, "the write on A read on another node", func() bool {
				out, _, code := cl.run("store", "read", "greeting")
				return code == 0 && strings.Contains(out, "written on A")
			})
		}
	})

	t.Run("backup", func(t *testing.T) {
		// Through C, of the cluster's state: a file an appliance serves.
		file := filepath.Join(t.TempDir(), "cluster.db")
		cliC.ok("backup", file)
		app := startServer(t, file)
		if got := newAdminCLI(t, app).ok("store", "read", "greeting"); !strings.Contains(got, "written on A") {
			t.Fatalf("an appliance on the cluster's backup reads: %s", got)
		}
		if err := app.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("service on A through C's gateway", func(t *testing.T) {
		src, err := filepath.Abs("../testdata/greeter")
		if err != nil {
			t.Fatal(err)
		}
		cliA.ok("run", src)
		waitStatus(t, cliA, "greeter", "running")
		// The runtime's state is the cluster's: C answers for it too.
		waitStatus(t, cliC, "greeter", "running")
		before := handledOn(t, a.server, "greeter")
		var body string
		testkit.Eventually(t, 30*time.Second, "greeter through C's gateway", func() bool {
			var code int
			code, body = postAs(t, "", c.gateway+"/greeter/Greeter/Call", `{"name":"Jane"}`)
			return code == 200
		})
		if !strings.Contains(body, "Hello Jane") {
			t.Fatalf("through C: %s", body)
		}
		// Nobody called A for greeter: C forwarded the call to A's proxy,
		// which dialled the service on A's loopback.
		if after := handledOn(t, a.server, "greeter"); after <= before {
			t.Fatalf("A's proxy handled %v greeter calls before and %v after the call through C: not forwarded through A", before, after)
		}
		// And with the CLI, through B's proxy.
		if out := cliB.ok("call", "greeter", "Greeter.Call", `{"name":"Bob"}`); !strings.Contains(out, "Hello Bob") {
			t.Fatalf("through B: %s", out)
		}
	})

	t.Run("events group over A and C", func(t *testing.T) {
		eventsGroup(t, b, a, c)
	})

	t.Run("kill -9 mid-load", func(t *testing.T) {
		killMidLoad(t, a, b, "micro")
	})

	// Auth's bucket, like the store's, is served through every node after
	// one came back: the restarted one, the one that wrote, the other.
	t.Run("auth through every node after a restart", func(t *testing.T) {
		for _, nd := range nodes {
			newCLI(t, nd.server).login("admin", "micro")
		}
	})

	// The appliance's admin replaces the cluster's first one: from here on
	// the admin's password is the appliance's.
	t.Run("import an appliance", func(t *testing.T) {
		importAppliance(t, a, c)
	})

	// With B down for good, the two left serve auth and the store.
	t.Run("one node down", func(t *testing.T) {
		b.stop(syscall.SIGKILL)
		for _, nd := range []*clusterNode{a, c} {
			cl := newCLI(t, nd.server).login("admin", "appliance-pw")
			cl.ok("store", "write", "down-"+nd.name, "written with B down")
			cl.ok("auth", "create", "account", "user-"+nd.name, "--secret", "pw-"+nd.name)
		}
		// Each node knows the account created through the other.
		for _, pair := range [][2]*clusterNode{{a, c}, {c, a}} {
			nd, other := pair[0], pair[1]
			newCLI(t, nd.server).login("user-"+other.name, "pw-"+other.name)
			if got := newCLI(t, nd.server).login("admin", "appliance-pw").ok("store", "read", "down-C"); !strings.Contains(got, "written with B down") {
				t.Fatalf("read on %s: %s", nd.name, got)
			}
		}
	})
}

// importAppliance writes store, config, auth and events on an appliance
// (micro server --data a.db), stops it, imports a.db into the cluster with
// micro cluster import through into, and reads it all back through other.
// On the way: a file in use, a file that is not a database, a node not
// clustered, callers not admins and a cluster holding data are refused.
func importAppliance(t *testing.T, into, other *clusterNode) {
	dir := t.TempDir()
	data := filepath.Join(dir, "a.db")
	app := startServer(t, data, "--admin-password", "appliance-pw")
	ac := newCLI(t, app).login("admin", "appliance-pw")
	ac.ok("store", "write", "imported", "from the appliance")
	ac.ok("config", "set", "shop.greeting", `"hello"`)
	ac.ok("config", "set", "shop.apikey", `"k-123"`, "--secret")
	ac.ok("auth", "create", "account", "alice", "--secret", "alice-pw", "--scopes", "user")
	for i := 1; i <= 5; i++ {
		ac.ok("events", "publish", "-m", "i="+strconv.Itoa(i), "audit", fmt.Sprintf(`{"n":%d}`, i))
	}
	history := ac.ok("events", "read", "audit")

	refused := func(c *cli, want string, args ...string) {
		t.Helper()
		out, errOut, code := c.run(append([]string{"cluster", "import"}, args...)...)
		if code == 0 || !strings.Contains(out+errOut, want) {
			t.Fatalf("micro cluster import %s: exit %d, want an error with %q\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
	// A node that is not clustered refuses (the file: an idle copy).
	snap := filepath.Join(dir, "snap.db")
	ac.ok("backup", snap)
	refused(ac, "is for a node of a cluster", snap)
	admin := newCLI(t, into.server).login("admin", "micro")
	refused(admin, "in use by another running micro server", data)
	if err := app.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(admin, "not a SQLite database", junk)
	refused(newCLI(t, into.server), "Not authorized", data)
	// The cluster holds the store test's records: refused without --merge.
	refused(admin, "record keys", data)

	out := admin.ok("cluster", "import", "--merge", data)
	for _, want := range []string{"auth", "store", "config", "events", "Imported " + data} {
		if !strings.Contains(out, want) {
			t.Fatalf("micro cluster import lacks %q:\n%s", want, out)
		}
	}
	// Through the other node: the appliance's admin (which replaced the
	// cluster's first) and user log in; what they wrote reads the same.
	oc := newCLI(t, other.server).login("admin", "appliance-pw")
	if got := oc.ok("store", "read", "imported"); !strings.Contains(got, "from the appliance") {
		t.Fatalf("imported record: %s", got)
	}
	if got := oc.ok("config", "get", "shop.apikey", "--secret"); got != "k-123\n" {
		t.Fatalf("imported secret: %q", got)
	}
	if got := oc.ok("config", "get", "shop.greeting"); got != "hello\n" {
		t.Fatalf("imported config: %q", got)
	}
	if got := oc.ok("events", "read", "audit"); got != history {
		t.Fatalf("events read through the cluster:\n%s\nwant, as on the appliance:\n%s", got, history)
	}
	alice := newCLI(t, other.server).login("alice", "alice-pw")
	refused(alice, "Admin access to namespace micro is required", "--merge", data)

	// Again: nothing is copied twice.
	out = newCLI(t, into.server).login("admin", "appliance-pw").ok("cluster", "import", "--merge", data)
	if !regexp.MustCompile(`events\s+0\s+5`).MatchString(out) || !regexp.MustCompile(`store\s+0\s+1`).MatchString(out) {
		t.Fatalf("a second import copied something:\n%s", out)
	}
	if got := oc.ok("events", "read", "audit"); got != history {
		t.Fatalf("events after a second import:\n%s", got)
	}
}

// handledOn is how many calls to service s's proxy has answered
// (micro_grpc_server_handled_total, every endpoint and code).
func handledOn(t *testing.T, s *server, service string) float64 {
	t.Helper()
	code, body, _ := request(t, "GET", s.gateway+"/metrics", "", "Authorization", "Bearer "+s.adminToken(t))
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	re := regexp.MustCompile(`(?m)^micro_grpc_server_handled_total\{[^}]*service="` + regexp.QuoteMeta(service) + `"[^}]*\} (\S+)$`)
	total := 0.0
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

// killMidLoad runs a writer through writer's proxy, kills victim with
// SIGKILL while it writes, writes on through the two left, starts victim
// again and reads every acknowledged write through it.
func killMidLoad(t *testing.T, writer, victim *clusterNode, adminPassword string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wctx := bearer(ctx, writer.token(t, "micro", "admin", adminPassword))
	store := storepb.NewStoreClient(dialProxy(t, writer.server))

	var (
		mu     sync.Mutex
		acked  []string
		failed atomic.Int64
		stop   = make(chan struct{})
		done   = make(chan struct{})
	)
	ackedN := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("load-%05d", i)
			cctx, ccancel := context.WithTimeout(wctx, 5*time.Second)
			_, err := store.Write(cctx, &storepb.WriteRequest{Record: &storepb.Record{Key: key, Value: []byte(key)}})
			ccancel()
			if err != nil {
				failed.Add(1) // not acknowledged: it may or may not be there
				continue
			}
			mu.Lock()
			acked = append(acked, key)
			mu.Unlock()
		}
	}()
	waitAcked := func(n int, what string) {
		testkit.Eventually(t, 60*time.Second, what, func() bool { return ackedN() >= n })
	}
	waitAcked(100, "100 acknowledged writes before the kill")
	victim.stop(syscall.SIGKILL)
	atKill := ackedN()
	waitAcked(atKill+200, "200 more acknowledged writes with a node down")
	victim.restart(t)
	waitAcked(ackedN()+100, "100 more acknowledged writes with the node back")
	close(stop)
	<-done
	t.Logf("%d writes acknowledged (%d at the kill), %d failed", len(acked), atKill, failed.Load())

	// Every acknowledged write is read back through the restarted node.
	rctx := bearer(ctx, victim.token(t, "micro", "admin", adminPassword))
	rstore := storepb.NewStoreClient(dialProxy(t, victim.server))
	missing := func() []string {
		var out []string
		for _, key := range acked {
			rsp, err := rstore.Read(rctx, &storepb.ReadRequest{Key: key})
			if err != nil || len(rsp.GetRecords()) != 1 || string(rsp.Records[0].GetValue()) != key {
				out = append(out, key)
			}
		}
		return out
	}
	var lost []string
	testkit.Eventually(t, 60*time.Second, "the restarted node to read every acknowledged write", func() bool {
		lost = missing()
		return len(lost) == 0
	})
}

// eventsGroup publishes events on pub, consumed by one group with a member
// on each of members: every event arrives once in the group, and each
// member gets some.
func eventsGroup(t *testing.T, pub *clusterNode, members ...*clusterNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type got struct {
		member int
		id     string
	}
	events := make(chan got, 1000)
	for i, m := range members {
		mctx := bearer(ctx, m.adminToken(t))
		cons, err := eventspb.NewStreamClient(dialProxy(t, m.server)).Consume(mctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Send(&eventspb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true}); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				ev, err := cons.Recv()
				if err != nil {
					return
				}
				events <- got{i, ev.GetId()}
			}
		}()
	}
	// The group is durable and starts at the oldest event: whatever
	// order the members' subscriptions land in, no event is missed.
	pctx := bearer(ctx, pub.adminToken(t))
	st := eventspb.NewStreamClient(dialProxy(t, pub.server))
	const n = 100
	published := map[string]bool{}
	for i := range n {
		rsp, err := st.Publish(pctx, &eventspb.PublishRequest{Topic: "orders", Payload: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		published[rsp.GetId()] = true
	}
	seen := map[string]int{}
	per := make([]int, len(members))
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case g := <-events:
			if !published[g.id] {
				t.Fatalf("an event not published here: %s", g.id)
			}
			seen[g.id]++
			per[g.member]++
		case <-timeout:
			t.Fatalf("%d of %d events consumed by the group (per member %v)", len(seen), n, per)
		}
	}
	// Nothing more arrives: once per group.
	select {
	case g := <-events:
		t.Fatalf("event %s delivered again (member %d)", g.id, g.member)
	case <-time.After(2 * time.Second):
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("event %s consumed %d times by the group", id, k)
		}
	}
	for i, k := range per {
		if k == 0 {
			t.Fatalf("member %d (on %s) got none of the group's %d events: %v", i, members[i].name, n, per)
		}
	}
	t.Logf("the group's %d events per member: %v", n, per)
}

// TestClusterRefusesUnsafe: a route listener others can reach needs the
// cluster secret, of a length worth the name: the server says so and
// exits.
func TestClusterRefusesUnsafe(t *testing.T) {
	t.Parallel()
	c := newCLI(t, nil)
	data := filepath.Join(t.TempDir(), "micro.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "nats://0.0.0.0:16222"}, "--cluster-secret (MICRO_CLUSTER_SECRET) is required"},
		{[]string{"--cluster", "nats://127.0.0.1:16222", "--cluster-secret", "short"}, "at least 16"},
	} {
		args := append([]string{"server", "--data", data, "--gateway-address", "127.0.0.1:0", "--proxy-address", "127.0.0.1:0",
			"--dashboard-address", ""}, tc.args...)
		out, errOut, code := c.run(args...)
		if code == 0 || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("micro %s: exit %d, want an error with %q\n%s%s", strings.Join(args, " "), code, tc.want, out, errOut)
		}
	}
}
