package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"

	"micro.dev/micro/blocks/auth"
	"micro.dev/micro/blocks/broker"
	"micro.dev/micro/blocks/config"
	"micro.dev/micro/blocks/events"
	"micro.dev/micro/blocks/network"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/runtime"
	"micro.dev/micro/blocks/store"
	syncblock "micro.dev/micro/blocks/sync"
	"micro.dev/micro/cluster"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/admin"
	"micro.dev/micro/router"
)

// clusterParts are the node's part in a cluster (Config.Cluster.Listen
// set): the embedded NATS server and the members bucket. Without
// --cluster they stay nil and nothing here runs.
type clusterParts struct {
	cluster *cluster.Cluster
	members *cluster.Members
	// forwardLn takes the calls other nodes forward here, served by the
	// proxy like any call; forwardTLS and viaTLS are its mutual TLS, the
	// server's and the client's side, both nil without cluster TLS.
	forwardLn          net.Listener
	forwardTLS, viaTLS *tls.Config
	// backends names, per block, where it keeps its state in the cluster
	// ("jetstream", "nats"); a block not named is on this node's SQLite
	// file, not replicated.
	backends map[string]string
}

// startCluster binds the forwarding listener, starts the embedded NATS
// server and waits for JetStream, then announces this node's forwarding
// address and proxy to the others. It runs after the listeners are bound
// and before the blocks are built (they take the cluster's JetStream).
// The node's id becomes its server name, stable across restarts, so
// services it registered stay routed to it.
func (n *Node) startCluster(ctx context.Context, cfg Config) (err error) {
	if cfg.Cluster.Listen == "" {
		return nil
	}
	// Bound before NATS starts, which may wait minutes for a majority: a
	// port in use or an unreadable certificate fails the start at once.
	if n.forwardTLS, n.viaTLS, err = cfg.Cluster.ForwardTLS(); err != nil {
		return err
	}
	forwardAddr, err := cfg.Cluster.ForwardAddress(cfg.ClusterForward)
	if err != nil {
		return err
	}
	if n.forwardLn, err = n.listen("cluster forwarding (--cluster-forward)", forwardAddr); err != nil {
		return err
	}
	cc := cfg.Cluster
	cc.Data, cc.Logger = cfg.Data, n.log
	if n.cluster, err = cluster.Start(ctx, cc); err != nil {
		return err
	}
	n.id = n.cluster.ServerName()
	n.backends = map[string]string{}
	routes := n.cluster.RouteAddress()
	forward, err := advertise(n.forwardLn.Addr().String(), cfg.ClusterAdvertise, routes, cfg.Cluster.Peers)
	if err != nil {
		return err
	}
	proxy, err := advertise(n.proxyLis.Addr().String(), cfg.ClusterAdvertise, routes, cfg.Cluster.Peers)
	if err != nil {
		return err
	}
	n.members, err = n.cluster.Announce(ctx, cluster.Member{Proxy: proxy, Forward: forward,
		Gateway: n.gatewayLn.Addr().String(), Version: cfg.Version})
	return err
}

// serveForwarding serves the calls other nodes forward here with the
// proxy's own server, so they meet every check a call to the proxy
// meets (the caller's token, the rules): over mutual TLS with the
// cluster's certificate when the routes have TLS, else in plaintext like
// the routes.
func (n *Node) serveForwarding() {
	if n.forwardLn == nil {
		return
	}
	ln := n.forwardLn
	if n.forwardTLS != nil {
		ln = tls.NewListener(ln, n.forwardTLS)
	}
	n.serve("cluster forwarding", func() error { return n.proxy.Server().Serve(ln) })
}

// advertise is the address other nodes reach one of this node's
// listeners (the forwarding listener, the proxy) at: its port, on the host
// given (--cluster-advertise), else the listener's or the route
// listener's host when either names one, else the local address this
// machine would use to reach the first peer.
func advertise(listenAddr, host, routeAddr string, peers []string) (string, error) {
	_, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", err
	}
	if host != "" {
		return net.JoinHostPort(host, port), nil
	}
	for _, a := range []string{listenAddr, routeAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				return net.JoinHostPort(h, port), nil
			}
		}
	}
	for _, p := range peers {
		u, err := cluster.PeerHost(p)
		if err != nil {
			continue
		}
		// A UDP "connection" sends nothing; it only asks the kernel which
		// local address routes to the peer.
		c, err := net.Dial("udp", u)
		if err != nil {
			continue
		}
		local := c.LocalAddr().(*net.UDPAddr).IP.String()
		c.Close()
		return net.JoinHostPort(local, port), nil
	}
	return "", errors.New("--cluster-advertise: cannot tell the address other nodes reach this node at (its listeners and --cluster listen on every interface); give the host or IP")
}

// closeCluster leaves the members bucket and stops the NATS server: after
// the blocks, which use its connection, have closed.
func (n *Node) closeCluster() []error {
	var errs []error
	if n.members != nil {
		if err := n.members.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.cluster != nil {
		if err := n.cluster.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// brokerOptions put the broker on the cluster's NATS, so messages reach
// subscribers on every node.
func (n *Node) brokerOptions() []broker.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["broker"] = "nats"
	return []broker.Option{broker.WithNATS(n.cluster.Conn())}
}

// registryOptions put the registry on JetStream and stamp every
// registration made through this node with its id: the node that reaches
// the service.
func (n *Node) registryOptions() []registry.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["registry"] = "jetstream"
	return []registry.Option{
		registry.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas()),
		registry.WithClusterNode(n.id),
		registry.WithNodeMetadata(map[string]string{router.OwnerKey: n.id}),
	}
}

// authOptions put accounts, rules and signing keys on JetStream: a token
// one node issued is good on every node.
func (n *Node) authOptions() []auth.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["auth"] = "jetstream"
	return []auth.Option{auth.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas())}
}

func (n *Node) storeOptions() []store.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["store"] = "jetstream"
	return []store.Option{store.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas())}
}

func (n *Node) eventsOptions() []events.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["events"] = "jetstream"
	return []events.Option{events.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas())}
}

func (n *Node) syncOptions() []syncblock.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["sync"] = "jetstream"
	return []syncblock.Option{syncblock.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas())}
}

// runtimeCluster keeps services' desired state, status, sources and logs
// on JetStream, so micro status and micro logs answer from any node; a
// service runs on the node it was created through.
func (n *Node) runtimeCluster(rc *runtime.Config) {
	if n.cluster == nil {
		return
	}
	n.backends["runtime"] = "jetstream (processes run on the node they were created through)"
	rc.JetStream, rc.Replicas, rc.Node = n.cluster.JetStream(), n.cluster.Replicas(), n.id
}

func (n *Node) configOptions() []config.Option {
	if n.cluster == nil {
		return nil
	}
	n.backends["config"] = "jetstream"
	return []config.Option{config.WithJetStream(n.cluster.JetStream(), n.cluster.Replicas())}
}

// networkOptions list the cluster's nodes in the network API.
func (n *Node) networkOptions() []network.Option {
	if n.cluster == nil {
		return nil
	}
	return []network.Option{network.WithPeers(func() []network.Node {
		var out []network.Node
		for _, m := range n.members.List() {
			out = append(out, network.Node{ID: m.Name, Address: m.Proxy})
		}
		return out
	})}
}

// routeVia lets the router reach services other nodes own through their
// forwarding listeners, with the cluster's TLS.
func (n *Node) routeVia(cfg *router.Config) {
	if n.cluster == nil {
		return
	}
	cfg.Self, cfg.ViaTLS = n.id, n.viaTLS
	cfg.Via = func(node string) (string, bool) {
		if node == n.id {
			return "", false
		}
		return n.members.Forward(node)
	}
}

// clusterHealth is GET /health's view of the cluster: whether this node
// can take writes (a JetStream meta leader), and how many nodes it
// reaches. Cheap: no JetStream requests.
func (n *Node) clusterHealth() (map[string]any, error) {
	st := n.cluster.Quick()
	h := map[string]any{"status": "ok", "node": st.Node, "meta_leader": st.MetaLeader, "size": st.Size, "online": st.Online}
	if st.MetaLeader == "" {
		h["status"] = "no-leader"
		return h, fmt.Errorf("cluster: no JetStream meta leader (%d of %d nodes reachable)", st.Online, st.Size)
	}
	return h, nil
}

// nodeHealth is GET /health's check: the node's own, and in a cluster a
// meta leader, without which no replicated write can be made.
func (n *Node) nodeHealth(ctx context.Context) error {
	if err := n.health(ctx); err != nil {
		return err
	}
	if n.cluster != nil {
		if _, err := n.clusterHealth(); err != nil {
			return err
		}
	}
	return nil
}

// healthDetail is what GET /health adds: backups, and the cluster.
func (n *Node) healthDetail() map[string]any {
	d := n.backupHealth()
	if n.cluster == nil {
		return d
	}
	if d == nil {
		d = map[string]any{}
	}
	d["cluster"], _ = n.clusterHealth()
	return d
}

// Cluster reports the cluster seen from this node: peers, the meta leader,
// the leader and replicas of every micro_ stream, and where each block
// keeps its state. It names every server and where it serves: for
// administrators of namespace micro only.
func (a *admin) Cluster(ctx context.Context, _ *pb.ClusterRequest) (*pb.ClusterResponse, error) {
	if err := a.node.authz.Check(ctx, metadata.DefaultNamespace, true); err != nil {
		return nil, err
	}
	n := a.node
	rsp := &pb.ClusterResponse{Node: n.id}
	if n.cluster == nil {
		return rsp, nil
	}
	st, err := n.cluster.Status(ctx, n.members)
	if err != nil {
		return nil, err
	}
	rsp.Clustered, rsp.Name, rsp.MetaLeader = true, st.Name, st.MetaLeader
	rsp.Size, rsp.Replicas = int32(st.Size), int32(st.Replicas)
	for _, p := range st.Peers {
		rsp.Peers = append(rsp.Peers, peerProto(p))
	}
	for _, s := range st.Streams {
		ps := &pb.ClusterStream{Name: s.Name, Leader: s.Leader, Messages: s.Messages, Bytes: s.Bytes}
		for _, r := range s.Replicas {
			ps.Replicas = append(ps.Replicas, peerProto(r))
		}
		rsp.Streams = append(rsp.Streams, ps)
	}
	for _, b := range n.blocks {
		backend := n.backends[b.name]
		switch {
		case backend != "":
		case b.name == "network":
			backend = "none (stateless)"
		default:
			backend = "sqlite (this node only, not replicated)"
		}
		rsp.Blocks = append(rsp.Blocks, &pb.ClusterBlock{Name: b.name, Backend: backend})
	}
	sort.Slice(rsp.Blocks, func(i, j int) bool { return rsp.Blocks[i].Name < rsp.Blocks[j].Name })
	return rsp, nil
}

func peerProto(p cluster.Peer) *pb.ClusterPeer {
	return &pb.ClusterPeer{Name: p.Name, Online: p.Online, Current: p.Current, Lag: p.Lag,
		Proxy: p.Proxy, Gateway: p.Gateway, Forward: p.Forward, Rtt: p.RTT}
}

// clusterStarted adds the cluster to the node's "started" log line.
func (n *Node) clusterStarted() []any {
	if n.cluster == nil {
		return nil
	}
	forwarding := "plaintext"
	if n.forwardTLS != nil {
		forwarding = "mutual TLS"
	}
	return []any{"cluster", n.cluster.Name(), "node", n.id, "routes", n.cluster.RouteAddress(),
		"forwarding", n.forwardLn.Addr().String(), "forwarding_tls", forwarding}
}

// ForwardAddr is the address of the cluster's forwarding listener, ""
// when the node is not clustered.
func (n *Node) ForwardAddr() string {
	if n.forwardLn == nil {
		return ""
	}
	return n.forwardLn.Addr().String()
}
