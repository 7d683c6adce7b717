package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Status is the cluster seen from this node.
type Status struct {
	Name       string // the cluster's
	Node       string // this node's server name
	MetaLeader string // "" while there is none
	Size       int    // nodes configured (this one and its peers)
	Replicas   int
	Peers      []Peer
	Streams    []Stream
}

// Peer is one node as this one knows it.
type Peer struct {
	Name string
	// Online: this node itself, or one it has a route to.
	Online bool
	// Current and Lag are JetStream's view of the peer in the meta group
	// (when this node leads it) or, else, the largest lag of its replicas
	// of the streams this node can see.
	Current bool
	Lag     uint64
	// Proxy and Gateway are where the node serves, Forward where the
	// others forward calls to it (from its announcement).
	Proxy, Gateway, Forward string
	// RTT of this node's route to it ("" for itself).
	RTT string
}

// Stream is one of the blocks' streams (KV buckets are streams too) and
// where its copies are.
type Stream struct {
	Name     string
	Leader   string
	Replicas []Peer // the copies other than the leader's
	Messages uint64
	Bytes    uint64
}

// Healthy reports whether the cluster can take writes: a meta leader and
// every stream led.
func (s *Status) Healthy() bool {
	if s.MetaLeader == "" {
		return false
	}
	for _, st := range s.Streams {
		if st.Leader == "" {
			return false
		}
	}
	return true
}

// Status describes the cluster: peers, the meta leader, and the leader and
// replicas of each micro_ stream. members may be nil.
func (c *Cluster) Status(ctx context.Context, members *Members) (*Status, error) {
	st := &Status{Name: c.cfg.Name, Node: c.ServerName(), MetaLeader: c.metaLeader(), Size: c.size, Replicas: c.Replicas()}
	peers := map[string]*Peer{st.Node: {Name: st.Node, Online: true, Current: true}}
	peer := func(name string) *Peer {
		if p, ok := peers[name]; ok {
			return p
		}
		p := &Peer{Name: name}
		peers[name] = p
		return p
	}
	if rz, err := c.srv.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			if r.RemoteName == "" {
				continue
			}
			p := peer(r.RemoteName)
			p.Online, p.RTT = true, r.RTT
		}
	}
	if members != nil {
		for _, m := range members.List() {
			p := peer(m.Name)
			p.Proxy, p.Gateway, p.Forward = m.Proxy, m.Gateway, m.Forward
		}
	}
	metaLag := false
	if jsz, err := c.srv.Jsz(&server.JSzOptions{}); err == nil && jsz.Meta != nil && len(jsz.Meta.Replicas) > 0 {
		metaLag = true
		for _, r := range jsz.Meta.Replicas {
			p := peer(r.Name)
			p.Current, p.Lag = r.Current && !r.Offline, r.Lag
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	names := c.js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, "micro_") && !strings.HasPrefix(name, "KV_micro_") && !strings.HasPrefix(name, "OBJ_micro_") {
			continue
		}
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("cluster: stream %s: %w", name, err)
		}
		info := s.CachedInfo()
		out := Stream{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes}
		if ci := info.Cluster; ci != nil {
			out.Leader = ci.Leader
			for _, r := range ci.Replicas {
				out.Replicas = append(out.Replicas, Peer{Name: r.Name, Online: !r.Offline, Current: r.Current, Lag: r.Lag})
				if !metaLag {
					p := peer(r.Name)
					p.Lag = max(p.Lag, r.Lag)
				}
			}
		} else {
			out.Leader = st.Node // a single server leads all
		}
		st.Streams = append(st.Streams, out)
	}
	if err := names.Err(); err != nil && err != jetstream.ErrEndOfData {
		return nil, fmt.Errorf("cluster: listing streams: %w", err)
	}
	if !metaLag {
		for _, p := range peers {
			p.Current = p.Online && p.Lag == 0
		}
	}
	for _, p := range peers {
		st.Peers = append(st.Peers, *p)
	}
	sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].Name < st.Peers[j].Name })
	sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Name < st.Streams[j].Name })
	return st, nil
}

// Brief is the cluster's state without asking JetStream anything: for
// health checks, which must be cheap.
type Brief struct {
	Node, MetaLeader string
	Size             int // nodes configured
	Online           int // this node and those it has a route to
}

// Quick returns the Brief.
func (c *Cluster) Quick() Brief {
	b := Brief{Node: c.ServerName(), MetaLeader: c.metaLeader(), Size: c.size, Online: 1}
	if rz, err := c.srv.Routez(&server.RoutezOptions{}); err == nil {
		seen := map[string]bool{}
		for _, r := range rz.Routes {
			if r.RemoteName != "" && !seen[r.RemoteName] {
				seen[r.RemoteName] = true
				b.Online++
			}
		}
	}
	return b
}
