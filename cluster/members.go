package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The members bucket lists the micro nodes of the cluster: where each
// one's forwarding listener is, so a node can forward a call to the node
// that runs the service (router.Config.Via), where its proxy and gateway
// are, and when each was last heard of.
const (
	membersBucket = "micro_nodes"
	// memberTTL: a node not heard of for this long is offline and its
	// entry goes.
	memberTTL = 30 * time.Second
	// announceEvery refreshes this node's entry well within memberTTL.
	announceEvery = 10 * time.Second
)

// Member is one micro node of the cluster.
type Member struct {
	// Name is the node's server name (Cluster.ServerName), also its node
	// id in the registry and network.
	Name string `json:"name"`
	// Proxy is the address its gRPC proxy is reached at, for people and
	// the network API.
	Proxy string `json:"proxy"`
	// Forward is the address other nodes forward calls to it at: its
	// forwarding listener (ForwardAddress), mutual TLS when the routes
	// have TLS.
	Forward string `json:"forward,omitempty"`
	// Gateway is its HTTP gateway's listen address, for people.
	Gateway string `json:"gateway,omitempty"`
	Version string `json:"version,omitempty"`
	// Started and Seen are when the node started and last announced.
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"`
}

// Members keeps this node's entry in the members bucket fresh and
// follows everyone's, so Proxy answers from memory.
type Members struct {
	c    *Cluster
	kv   jetstream.KeyValue
	self Member

	mu    sync.RWMutex
	known map[string]Member

	cancel context.CancelFunc
	done   chan struct{}
}

// Announce puts self in the members bucket, keeps it there until Close,
// and follows the other nodes' entries.
func (c *Cluster) Announce(ctx context.Context, self Member) (*Members, error) {
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   membersBucket,
		History:  1,
		TTL:      memberTTL,
		Storage:  jetstream.FileStorage,
		Replicas: c.Replicas(),
		// A handful of small entries; the cap keeps a bug from growing it.
		MaxBytes:     8 << 20,
		MaxValueSize: 4 << 10,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: members bucket: %w", err)
	}
	self.Name = c.ServerName()
	now := time.Now()
	self.Started, self.Seen = now, now
	m := &Members{c: c, kv: kv, self: self, known: map[string]Member{}, done: make(chan struct{})}
	if err := m.put(ctx); err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: watching members: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(wctx, w)
	return m, nil
}

func (m *Members) put(ctx context.Context) error {
	m.self.Seen = time.Now()
	b, _ := json.Marshal(m.self)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := m.kv.Put(ctx, m.self.Name, b); err != nil {
		return fmt.Errorf("cluster: announcing this node: %w", err)
	}
	m.mu.Lock()
	m.known[m.self.Name] = m.self
	m.mu.Unlock()
	return nil
}

func (m *Members) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(m.done)
	defer w.Stop()
	tick := time.NewTicker(announceEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := m.put(ctx); err != nil && ctx.Err() == nil {
				m.c.log.Warn("cluster: refreshing this node's entry failed; others may see it offline", "err", err)
			}
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // the end of the initial values
			}
			m.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				var mem Member
				if json.Unmarshal(e.Value(), &mem) == nil && mem.Name == e.Key() {
					m.known[e.Key()] = mem
				}
			} else {
				delete(m.known, e.Key())
			}
			m.mu.Unlock()
		}
	}
}

// Forward is the forwarding address of node name, if it is a known
// member.
func (m *Members) Forward(name string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.known[name]
	if !ok || time.Since(mem.Seen) > memberTTL || mem.Forward == "" {
		return "", false
	}
	return mem.Forward, true
}

// List returns the members heard of within memberTTL, by name.
func (m *Members) List() []Member {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Member
	for _, mem := range m.known {
		if time.Since(mem.Seen) <= memberTTL {
			out = append(out, mem)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops announcing and removes this node's entry, so the others
// stop forwarding to it at once.
func (m *Members) Close() error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.kv.Delete(ctx, m.self.Name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("cluster: leaving the members bucket: %w", err)
	}
	return nil
}
