// Package cluster runs a micro node's embedded NATS server: the routes to
// the other nodes, JetStream (where the blocks keep replicated state when
// the node is clustered), and the in-process connection the node talks to
// it on. A node without --cluster never imports a byte of it at run time:
// package node starts it only when Config.Listen is set.
//
// The node connects to its server in-process (nats.InProcessServer). The
// port others reach is the route port of --cluster, which other nodes dial
// with the cluster secret as their credentials; the server's client port
// is on loopback, random, behind a password only this process knows
// (nats-server starts routes only once it listens for clients). Its JetStream data lives in a directory next to the data
// file (./micro.db.jetstream/), with the server's name, which JetStream
// knows the node by across restarts, kept in it.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// DefaultName is the cluster name unless --cluster-name says otherwise;
// nodes join only a cluster of their own name.
const DefaultName = "micro"

// DefaultReadyTimeout bounds how long Start waits for JetStream to elect a
// meta leader, which needs a majority of the nodes up.
const DefaultReadyTimeout = 2 * time.Minute

// MinSecretLength is the shortest cluster secret taken: it is all that
// keeps a stranger who reaches the route port out of every replicated byte.
const MinSecretLength = 16

// routeUser is the user name routes authenticate with; the secret is the
// password.
const routeUser = "micro"

// clientUser is the node's own user on its server.
const clientUser = "micro-node"

// maxReplicas is the replication of the blocks' streams and buckets: three
// copies survive one node lost, and more slow every write for little.
const maxReplicas = 3

// Config is how a node runs its cluster server.
type Config struct {
	// Listen is the route listener, nats://HOST:PORT (--cluster).
	Listen string
	// Peers are the other nodes' route addresses, host:port or
	// nats://host:port (--cluster-peers). This node's own may be among
	// them: NATS skips a route to itself.
	Peers []string
	// Name is the cluster's name; empty means DefaultName.
	Name string
	// Secret authenticates routes (--cluster-secret, MICRO_CLUSTER_SECRET).
	// Required unless Listen is on a loopback address.
	Secret string
	// TLSCert and TLSKey, with TLSCA, make routes speak TLS, both ways:
	// a node presents TLSCert and checks its peers' against TLSCA (the
	// system's roots when empty).
	TLSCert, TLSKey, TLSCA string
	// Data is the node's data file; JetStream's directory is beside it.
	Data string
	// Logger receives the server's warnings and errors (its notices at
	// debug level); nil means slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for a JetStream meta leader; zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Cluster is a running embedded NATS server and the node's connection
// to it.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	listen *url.URL
	peers  []*url.URL // without credentials, for status
	size   int

	clientPassword string
}

// StoreDir is where a node with data file data keeps its JetStream state.
func StoreDir(data string) string { return data + ".jetstream" }

// Validate checks cfg without starting anything: the errors a user gets
// at once from `micro server`.
func (cfg Config) Validate() error {
	_, _, err := cfg.parse()
	return err
}

func (cfg Config) parse() (listen *url.URL, peers []*url.URL, err error) {
	listen, err = parseAddr(cfg.Listen, true)
	if err != nil {
		return nil, nil, fmt.Errorf("--cluster: %w", err)
	}
	for _, p := range cfg.Peers {
		u, err := parseAddr(p, false)
		if err != nil {
			return nil, nil, fmt.Errorf("--cluster-peers: %w", err)
		}
		peers = append(peers, u)
	}
	if cfg.Name != "" && !validName.MatchString(cfg.Name) {
		return nil, nil, fmt.Errorf("--cluster-name %q: use letters, digits, '-' and '_'", cfg.Name)
	}
	switch {
	case cfg.Secret == "" && !loopback(listen.Hostname()):
		return nil, nil, fmt.Errorf("--cluster-secret (MICRO_CLUSTER_SECRET) is required when --cluster listens on %s, which is not a loopback address: "+
			"without it anyone who reaches that port joins the cluster and reads every replicated byte; give every node the same secret of at least %d characters",
			listen.Host, MinSecretLength)
	case cfg.Secret != "" && len(cfg.Secret) < MinSecretLength:
		return nil, nil, fmt.Errorf("--cluster-secret is %d characters; use at least %d (such as the output of 'openssl rand -hex 24')", len(cfg.Secret), MinSecretLength)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, nil, errors.New("--cluster-tls-cert and --cluster-tls-key go together")
	}
	if cfg.TLSCA != "" && cfg.TLSCert == "" {
		return nil, nil, errors.New("--cluster-tls-ca needs --cluster-tls-cert and --cluster-tls-key")
	}
	if cfg.Data == "" {
		return nil, nil, errors.New("no data file: the cluster's JetStream directory goes next to it")
	}
	return listen, peers, nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// parseAddr reads nats://host:port or host:port. The listener may have an
// empty or unspecified host (all interfaces); a peer needs one.
func parseAddr(s string, listener bool) (*url.URL, error) {
	s = strings.TrimSpace(s)
	raw := s
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%q is not nats://HOST:PORT", s)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%q has no valid port (nats://HOST:PORT)", s)
	}
	if u.Hostname() == "" && !listener {
		return nil, fmt.Errorf("%q has no host (HOST:PORT)", s)
	}
	return &url.URL{Scheme: "nats", Host: u.Host}, nil
}

// loopback reports whether host names only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start runs the server, connects to it in-process and waits, at most
// cfg.ReadyTimeout, until JetStream has a meta leader: until then no block
// could create its streams.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	listen, peers, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	var pw [24]byte
	rand.Read(pw[:])
	c := &Cluster{cfg: cfg, log: cfg.Logger, listen: listen, peers: peers, clientPassword: hex.EncodeToString(pw[:])}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("part", "cluster")
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	c.srv, err = server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.srv.SetLoggerV2(&logger{log: c.log}, false, false, false)
	go c.srv.Start()
	if !c.srv.ReadyForConnections(30 * time.Second) {
		c.Close()
		return nil, fmt.Errorf("cluster: the NATS server did not start within 30s (route listener %s)", listen.Host)
	}
	c.nc, err = nats.Connect("", nats.InProcessServer(c.srv), nats.Name("micro-node"), nats.UserInfo(clientUser, c.clientPassword),
		nats.MaxReconnects(-1), nats.ErrorHandler(c.asyncError))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: connecting in-process: %w", err)
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.js = retryingJS{js} // retry.go
	if err := c.waitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.log.Info("cluster joined", "server", c.srv.Name(), "cluster", cfg.Name, "routes", listen.Host,
		"peers", len(peers), "replicas", c.Replicas(), "jetstream", StoreDir(cfg.Data))
	return c, nil
}

func (c *Cluster) options() (*server.Options, error) {
	dir := StoreDir(c.cfg.Data)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: JetStream directory: %w", err)
	}
	name, err := serverName(dir)
	if err != nil {
		return nil, err
	}
	// The server keeps only a hash of its one client's password (the
	// lowest cost: it is random, not guessable).
	hashed, err := bcrypt.GenerateFromPassword([]byte(c.clientPassword), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	port, _ := strconv.Atoi(c.listen.Port())
	host := c.listen.Hostname()
	if host == "" {
		host = "0.0.0.0"
	}
	o := &server.Options{
		ServerName: name,
		// The node is the only client and connects in-process. The
		// server still listens for clients, since it starts its routes
		// only once a client listener is up (DontListen never routes):
		// on a random loopback port, behind a password made for this
		// run and known to this process alone.
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		Username:  clientUser,
		Password:  string(hashed),
		JetStream: true,
		StoreDir:  dir,
		// The blocks' streams are file-backed; memory is for NATS's own.
		JetStreamMaxMemory: 256 << 20,
		NoSigs:             true,
		Cluster: server.ClusterOpts{
			Name: c.cfg.Name,
			Host: host,
			Port: port,
		},
	}
	if c.cfg.Secret != "" {
		o.Cluster.Username, o.Cluster.Password = routeUser, c.cfg.Secret
		o.Cluster.AuthTimeout = 5
	}
	if c.cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.cfg.TLSCert, KeyFile: c.cfg.TLSKey,
			CaFile: c.cfg.TLSCA, Verify: true, Timeout: 5})
		if err != nil {
			return nil, fmt.Errorf("--cluster-tls-cert/key/ca: %w", err)
		}
		// A route is both ends: the node dialling checks the peer's
		// certificate against the same CAs. GenTLSConfig fills only the
		// server's side; nats-server's config file mirrors it so, and
		// without it a node trusted the system's roots alone and never
		// reached a peer whose certificate --cluster-tls-ca signed.
		tc.RootCAs = tc.ClientCAs
		o.Cluster.TLSConfig, o.Cluster.TLSTimeout = tc, 5
	}
	seen := map[string]bool{}
	for _, p := range c.peers {
		if seen[p.Host] {
			continue
		}
		seen[p.Host] = true
		r := *p
		if c.cfg.Secret != "" {
			r.User = url.UserPassword(routeUser, c.cfg.Secret)
		}
		o.Routes = append(o.Routes, &r)
	}
	c.size = len(seen) + 1
	if seen[c.listen.Host] {
		c.size-- // this node among its own peers
	}
	return o, nil
}

// serverName is the node's name in the cluster, made once and kept in
// dir: JetStream places replicas by server name, so a node that came back
// under another name would count as a stranger and its copies as lost.
func serverName(dir string) (string, error) {
	path := filepath.Join(dir, "server-name")
	if b, err := os.ReadFile(path); err == nil {
		if name := strings.TrimSpace(string(b)); validName.MatchString(name) {
			return name, nil
		}
		return "", fmt.Errorf("cluster: %s holds no valid server name; remove it to get a new one", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("cluster: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	rand.Read(b[:])
	name := strings.TrimPrefix(host+"-"+hex.EncodeToString(b[:]), "-")
	if err := os.WriteFile(path, []byte(name+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	return name, nil
}

// waitReady returns once JetStream answers account requests, which in a
// cluster needs an elected meta leader, and either enough nodes are
// reachable to place a stream's replicas or the account has streams
// already (a node restarting while another is down must come up: its
// streams exist and a majority of their copies serves them).
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if c.metaLeader() != "" || !c.srv.JetStreamIsClustered() && c.srv.JetStreamEnabled() {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			var info *jetstream.AccountInfo
			info, last = c.js.AccountInfo(actx)
			acancel()
			if last == nil {
				if info.Streams > 0 || c.Quick().Online >= c.Replicas() {
					return nil
				}
				last = fmt.Errorf("%d of the %d nodes reachable, %d needed for the first streams' replicas", c.Quick().Online, c.size, c.Replicas())
			}
		}
		select {
		case <-ctx.Done():
			why := "JetStream was not ready"
			if last != nil {
				why += " (" + last.Error() + ")"
			} else {
				why = "no JetStream meta leader was elected"
			}
			return fmt.Errorf("cluster: %s within %v: a majority of the %d nodes must be up and reach each other's route ports (peers %s) "+
				"with the same --cluster-name and --cluster-secret", why, c.cfg.ReadyTimeout, c.size, c.peerList())
		case <-tick.C:
		}
	}
}

func (c *Cluster) peerList() string {
	var s []string
	for _, p := range c.peers {
		s = append(s, p.Host)
	}
	if len(s) == 0 {
		return "none given"
	}
	return strings.Join(s, ", ")
}

// metaLeader is the server name of JetStream's meta leader, "" while none.
func (c *Cluster) metaLeader() string {
	jsz, err := c.srv.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return ""
	}
	return jsz.Meta.Leader
}

func (c *Cluster) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	c.log.Warn("cluster connection error", "subject", subject, "err", err)
}

// JetStream is the node's JetStream client, for the blocks' backends.
func (c *Cluster) JetStream() jetstream.JetStream { return c.js }

// Conn is the node's in-process connection, for core pub/sub (the broker).
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// Replicas is how many copies the blocks' streams and buckets keep:
// min(3, nodes in the cluster).
func (c *Cluster) Replicas() int { return min(maxReplicas, c.size) }

// Size is the number of nodes the cluster was configured with.
func (c *Cluster) Size() int { return c.size }

// ServerName is this node's stable name in the cluster.
func (c *Cluster) ServerName() string { return c.srv.Name() }

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// RouteAddress is the route listener's address (host:port).
func (c *Cluster) RouteAddress() string { return c.listen.Host }

// Close drains the node's connection, then shuts the server down and waits
// for it: call it after the blocks using the connection have closed.
func (c *Cluster) Close() error {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
	return nil
}

// PeerHost is the host:port of a --cluster-peers entry.
func PeerHost(s string) (string, error) {
	u, err := parseAddr(s, false)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}
