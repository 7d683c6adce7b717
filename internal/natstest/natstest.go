// Package natstest starts embedded NATS servers with JetStream on loopback
// for tests: one server, or a cluster of several, each storing its streams
// under the test's temporary directory and shut down when the test ends.
// It is what the JetStream backends of the blocks are tested against.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/internal/testkit"
)

// readyTimeout bounds how long a server may take to accept clients and,
// in a cluster, to elect a JetStream meta leader.
const readyTimeout = 30 * time.Second

// Server starts one JetStream server on a free loopback port and returns
// it; it is shut down when the test ends.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	s := start(tb, options(tb, "n0", "", nil))
	waitForJetStream(tb, []*server.Server{s})
	return s
}

// Cluster starts n JetStream servers on loopback routed to each other as
// one cluster and returns them once JetStream has a meta leader.
func Cluster(tb testing.TB, n int) []*server.Server {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("natstest: a cluster of %d servers", n)
	}
	// A JetStream cluster needs its routes configured at start, so each
	// server's route port is chosen before any starts.
	routes := make([]*url.URL, n)
	for i := range routes {
		routes[i] = &url.URL{Scheme: "nats", Host: testkit.FreeAddr(tb)}
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		o := options(tb, fmt.Sprintf("n%d", i), "micro-test", routes)
		_, port, _ := net.SplitHostPort(routes[i].Host)
		o.Cluster.Port, _ = strconv.Atoi(port)
		servers[i] = start(tb, o)
	}
	waitForJetStream(tb, servers)
	return servers
}

// Connect returns a JetStream client connected to s, closed when the test
// ends.
func Connect(tb testing.TB, s *server.Server) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.Timeout(readyTimeout))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

func options(tb testing.TB, name, cluster string, routes []*url.URL) *server.Options {
	o := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   filepath.Join(tb.TempDir(), "jetstream"),
		NoLog:      true,
		NoSigs:     true,
	}
	if cluster != "" {
		o.Cluster = server.ClusterOpts{Name: cluster, Host: "127.0.0.1", Port: server.RANDOM_PORT}
		o.Routes = routes
	}
	return o
}

func start(tb testing.TB, o *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyTimeout) {
		tb.Fatalf("natstest: server %s not ready after %v", o.ServerName, readyTimeout)
	}
	return s
}

// waitForJetStream waits until JetStream is ready: for a cluster, until
// one server leads the meta group and every server is a peer of it, so the
// first stream a test creates does not race the election.
func waitForJetStream(tb testing.TB, servers []*server.Server) {
	tb.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !ready(servers) {
		if time.Now().After(deadline) {
			tb.Fatalf("natstest: JetStream of %d servers not ready after %v", len(servers), readyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(servers []*server.Server) bool {
	if len(servers) == 1 && !servers[0].JetStreamIsClustered() {
		return servers[0].JetStreamEnabled()
	}
	peers := 0
	for _, s := range servers {
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			// Only the meta leader knows which peers report in.
			peers = len(s.JetStreamClusterPeers())
		}
	}
	return peers == len(servers)
}
