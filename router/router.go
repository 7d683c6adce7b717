// Package router decides where each call to a service goes, for the gRPC
// proxy and the HTTP gateway alike: a block hosted in-process, or the
// nodes a service registered.
//
// It answers for the block services hosted in-process from the proxy's own
// service table; every other service is looked up in the registry (in the
// caller's namespace, then in "micro") through a cache the registry's
// change feed keeps fresh. Calls go round-robin over the service's nodes on
// pooled connections; a node that refuses the connection is skipped for a
// while and the call goes to the next one, so a crashed node costs no
// failed calls while others are up, and a service whose nodes all refuse
// answers 503 rather than hanging. The network block (blocks/network)
// describes the routes over Micro's network.Network API.
package router

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/tracing"
	regpb "micro.dev/micro/proto/registry"
)

// Registry is what the router needs of the registry block.
type Registry interface {
	// Lookup returns the live versions of a registered service and when
	// that answer expires by itself (its first node expiry).
	Lookup(ctx context.Context, domain, service string) ([]*regpb.Service, time.Time, error)
	// List returns every live registered service version of a domain
	// ("*" for all).
	List(ctx context.Context, domain string) ([]*regpb.Service, error)
	// Subscribe calls fn with each change right after it is stored.
	Subscribe(fn func(*regpb.Result)) (cancel func())
}

// Config is what a Router is built from.
type Config struct {
	Registry Registry
	// Local lists the gRPC services hosted in-process (the proxy's service
	// table); LocalConn reaches them.
	Local     func() map[string]grpc.ServiceInfo
	LocalConn grpc.ClientConnInterface
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tracer, when set, records a client span of every call forwarded to
	// a registered service and sends it as the callee's parent; nil does
	// no tracing work.
	Tracer oteltrace.Tracer
	// Self and Via route across the micro nodes of a cluster (see
	// OwnerKey): Self is this node's id, Via gives the address another
	// node takes forwarded calls at while that node is up. Without Via
	// every registered node is dialled at its address.
	Self string
	Via  func(node string) (forwardAddr string, ok bool)
	// ViaTLS, when set, is how the hops to other nodes are dialled
	// (mutual TLS with the cluster's certificate); nil is plaintext.
	// Services' own nodes are dialled in plaintext either way.
	ViaTLS *tls.Config
}

// OwnerKey is the metadata key of a registered service node naming the
// micro node it registered through (the node that runs it, for services
// started by micro run). In a cluster, a call to a service node owned by
// another micro node goes to that node's forwarding listener, served by
// its proxy, which dials the service
// where it listens: services listen on their machine's loopback by
// default, which only their own node reaches.
const OwnerKey = "micro_node"

// ForwardedHeader marks a call one node's router forwarded to another's
// proxy (its forwarding listener): that proxy routes it to service nodes of its own only, so a call
// never bounces between nodes. A client setting it only narrows its own
// call to the nodes of the node it calls.
const ForwardedHeader = "micro-forwarded-by"

// viaKey marks, on the router's own copy of a node, a hop through another
// micro node's proxy.
const viaKey = "micro_via"

// Tuning.
const (
	// negativeTTL bounds how long "not found" is cached; a registration
	// clears it at once through the change feed regardless.
	negativeTTL = 10 * time.Second
	// maxCacheAge bounds any cached answer, in case a change went unseen.
	maxCacheAge = time.Minute
	// downFor is how long a node that refused a connection is tried last.
	downFor = 5 * time.Second
	// maxAttempts bounds the nodes one call tries.
	maxAttempts = 5
)

// errID is the id of routing errors, Micro's.
const errID = "micro"

// Route is where a call goes and what shape its endpoint has.
type Route struct {
	Service, Endpoint string
	// Domain is the registry domain the service was found in; empty for a
	// block hosted in-process (Local).
	Domain string
	Local  bool
	// ServerStream and ClientStream describe the endpoint; a registered
	// endpoint with metadata stream "true" streams both ways unless its
	// server_stream/client_stream metadata say otherwise.
	ServerStream, ClientStream bool
	// Conn reaches the service: LocalConn for a block, else a connection
	// that picks a node per call (round-robin, skipping refusing nodes).
	Conn grpc.ClientConnInterface
}

// Stream reports whether the endpoint streams either way.
func (r *Route) Stream() bool { return r.ServerStream || r.ClientStream }

// Router finds routes. It is safe for concurrent use.
type Router struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	pool *pool

	localOnce sync.Once
	local     map[string]map[string]grpc.MethodInfo // service -> Handler.Method -> info

	mu    sync.Mutex
	cache map[serviceKey]*entry
	rr    map[serviceKey]*atomic.Uint64
	down  map[string]time.Time // address -> until

	unsubscribe func()
}

type entry struct {
	services []*regpb.Service // nil: not found
	nodes    []*regpb.Node    // every node of services, found once per entry
	until    time.Time
}

// New returns a router for cfg; Close it to release connections.
func New(cfg Config) *Router {
	r := &Router{
		cfg:   cfg,
		log:   cfg.Logger,
		now:   cfg.Now,
		cache: map[serviceKey]*entry{},
		rr:    map[serviceKey]*atomic.Uint64{},
		down:  map[string]time.Time{},
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.pool = newPool(r.now)
	if cfg.Registry != nil {
		r.unsubscribe = cfg.Registry.Subscribe(r.changed)
	}
	return r
}

// Close stops following the registry and closes pooled connections.
func (r *Router) Close() {
	if r.unsubscribe != nil {
		r.unsubscribe()
	}
	r.pool.close()
}

// serviceKey names a service of a domain in the router's maps (a struct,
// so that looking one up builds no string).
type serviceKey struct{ domain, service string }

// changed drops the cached answer for a service that changed.
func (r *Router) changed(res *regpb.Result) {
	s := res.GetService()
	r.mu.Lock()
	delete(r.cache, serviceKey{s.GetOptions().GetDomain(), s.GetName()})
	r.mu.Unlock()
}

// localTable indexes the in-process services once: blocks register before
// the proxy serves, and never after.
func (r *Router) localTable() map[string]map[string]grpc.MethodInfo {
	r.localOnce.Do(func() {
		r.local = map[string]map[string]grpc.MethodInfo{}
		if r.cfg.Local == nil {
			return
		}
		for full, info := range r.cfg.Local() {
			service, handler, ok := cutLast(full, ".")
			if !ok || strings.HasPrefix(full, "grpc.") {
				continue // health and reflection are not blocks
			}
			if r.local[service] == nil {
				r.local[service] = map[string]grpc.MethodInfo{}
			}
			for _, m := range info.Methods {
				r.local[service][handler+"."+m.Name] = m
			}
		}
	})
	return r.local
}

// LocalServices lists the names of the in-process blocks, sorted.
func (r *Router) LocalServices() []string {
	var names []string
	for name := range r.localTable() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Resolve finds where a call to service's endpoint ("Handler.Method") made
// in namespace goes: a block in-process, else the service's registered
// nodes in namespace, else in "micro". An unknown service is
// ServiceNotFound; an endpoint the service does not list is a 404 naming
// the endpoints it has.
func (r *Router) Resolve(ctx context.Context, namespace, service, endpoint string) (*Route, error) {
	return r.resolve(ctx, namespace, service, endpoint, true)
}

// Service routes to a service without naming an endpoint: for calls
// outside the endpoints it registered, such as server reflection. The
// route does not stream (Stream is false).
func (r *Router) Service(ctx context.Context, namespace, service string) (*Route, error) {
	return r.resolve(ctx, namespace, service, "", false)
}

// GRPCServices lists the gRPC services ("<service>.<Handler>") of the
// registered services calls in namespace reach (its own and "micro"'s),
// each with its methods: what server reflection lists beside the blocks.
func (r *Router) GRPCServices(ctx context.Context, namespace string) (map[string][]string, error) {
	out := map[string][]string{}
	domains := []string{namespace}
	if namespace != metadata.DefaultNamespace {
		domains = append(domains, metadata.DefaultNamespace)
	}
	for _, d := range domains {
		svcs, err := r.Registered(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			for _, ep := range s.Endpoints {
				handler, method, _ := strings.Cut(ep.Name, ".")
				name := s.Name + "." + handler
				if !slices.Contains(out[name], method) {
					out[name] = append(out[name], method)
				}
			}
		}
	}
	return out, nil
}

// Registered lists the live registered service versions of domain ("*":
// every domain), which calls are routed to; none without a registry.
func (r *Router) Registered(ctx context.Context, domain string) ([]*regpb.Service, error) {
	if r.cfg.Registry == nil {
		return nil, nil
	}
	return r.cfg.Registry.List(ctx, domain)
}

func (r *Router) resolve(ctx context.Context, namespace, service, endpoint string, check bool) (*Route, error) {
	if methods, ok := r.localTable()[service]; ok {
		if !check {
			return &Route{Service: service, Local: true, Conn: r.cfg.LocalConn}, nil
		}
		m, ok := methods[endpoint]
		if !ok {
			names := make([]string, 0, len(methods))
			for name := range methods {
				names = append(names, name)
			}
			return nil, unknownEndpoint(service, endpoint, names)
		}
		return &Route{Service: service, Endpoint: endpoint, Local: true, Conn: r.cfg.LocalConn,
			ServerStream: m.IsServerStream, ClientStream: m.IsClientStream}, nil
	}
	if namespace == "" {
		namespace = metadata.DefaultNamespace
	}
	domain := namespace
	cached, err := r.lookup(ctx, domain, service)
	if err != nil {
		return nil, err
	}
	if len(cached.services) == 0 && namespace != metadata.DefaultNamespace {
		domain = metadata.DefaultNamespace
		if cached, err = r.lookup(ctx, domain, service); err != nil {
			return nil, err
		}
	}
	svcs := cached.services
	if len(svcs) == 0 {
		return nil, errors.ServiceNotFound(service)
	}
	route := &Route{Service: service, Endpoint: endpoint, Domain: domain}
	listed, found := 0, false
	for _, s := range svcs {
		for _, ep := range s.Endpoints {
			listed++
			if ep.Name != endpoint || found {
				continue
			}
			found = true
			md := ep.Metadata
			if md["stream"] == "true" {
				// Micro marks streams only as streams: both ways, unless
				// our finer metadata says which.
				_, fine := md["server_stream"]
				route.ServerStream = !fine || md["server_stream"] == "true"
				route.ClientStream = !fine || md["client_stream"] == "true"
			}
		}
	}
	// A service that registered no endpoints (registered by hand, say) is
	// called on whatever endpoint is asked for.
	// Debug.Health and Debug.Stats are on every framework service, unlisted
	// (framework/server's Debug), as in Micro.
	if check && !found && listed > 0 && !strings.HasPrefix(endpoint, "Debug.") {
		var names []string
		for _, s := range svcs {
			for _, ep := range s.Endpoints {
				names = append(names, ep.Name)
			}
		}
		return nil, unknownEndpoint(service, endpoint, names)
	}
	nodes := cached.nodes
	if r.cfg.Via != nil {
		if nodes = r.owners(ctx, nodes); len(nodes) == 0 {
			return nil, errors.ServiceUnavailable(errID, "service %s has no node on micro node %s, which the call was forwarded to", service, r.cfg.Self)
		}
	}
	route.Conn = &nodeConn{r: r, key: serviceKey{domain, service}, service: service, nodes: nodes}
	return route, nil
}

func unknownEndpoint(service, endpoint string, names []string) error {
	sort.Strings(names)
	names = compact(names)
	return errors.NotFound(errID, "service %s has no endpoint %s; its endpoints are %s", service, endpoint, strings.Join(names, ", "))
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// owners replaces the nodes other micro nodes own with a hop to those
// nodes' proxies (one per micro node), keeps this node's own and those
// without an owner, and, for a call forwarded here, drops the others'. A
// node whose owner is not up is dialled directly: it may listen where this
// node reaches it.
func (r *Router) owners(ctx context.Context, nodes []*regpb.Node) []*regpb.Node {
	in, _ := grpcmd.FromIncomingContext(ctx)
	forwarded := len(in.Get(ForwardedHeader)) > 0
	var out []*regpb.Node
	hops := map[string]bool{}
	for _, n := range nodes {
		owner := n.GetMetadata()[OwnerKey]
		if owner == "" || owner == r.cfg.Self {
			out = append(out, n)
			continue
		}
		if forwarded {
			continue
		}
		addr, ok := r.cfg.Via(owner)
		if !ok {
			out = append(out, n)
			continue
		}
		if !hops[addr] {
			hops[addr] = true
			out = append(out, &regpb.Node{Id: "node:" + owner, Address: addr, Metadata: map[string]string{viaKey: owner}})
		}
	}
	return out
}

func nodesOf(svcs []*regpb.Service) []*regpb.Node {
	var nodes []*regpb.Node
	for _, s := range svcs {
		nodes = append(nodes, s.Nodes...)
	}
	return nodes
}

// lookup answers from the cache, else asks the registry and caches the
// answer until it expires, the service changes, or maxCacheAge.
func (r *Router) lookup(ctx context.Context, domain, service string) (*entry, error) {
	key := serviceKey{domain, service}
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Before(e.until) {
		return e, nil
	}
	if r.cfg.Registry == nil {
		return &entry{}, nil
	}
	svcs, until, err := r.cfg.Registry.Lookup(ctx, domain, service)
	if err != nil {
		return nil, errors.InternalServerError(errID, "looking up %s: %v", service, err)
	}
	limit := now.Add(maxCacheAge)
	if len(svcs) == 0 {
		limit = now.Add(negativeTTL)
	}
	if until.IsZero() || until.After(limit) {
		until = limit
	}
	e = &entry{services: svcs, nodes: nodesOf(svcs), until: until}
	r.mu.Lock()
	r.cache[key] = e
	r.mu.Unlock()
	return e, nil
}

// order returns the nodes to try for one call: round-robin from the next
// start, nodes that recently refused connections last.
func (r *Router) order(key serviceKey, nodes []*regpb.Node) []*regpb.Node {
	if len(nodes) == 1 {
		// The one node to try, down or not; a lapsed mark is forgotten.
		r.mu.Lock()
		if until, ok := r.down[nodes[0].Address]; ok && !r.now().Before(until) {
			delete(r.down, nodes[0].Address)
		}
		r.mu.Unlock()
		return nodes
	}
	r.mu.Lock()
	ctr, ok := r.rr[key]
	if !ok {
		ctr = new(atomic.Uint64)
		r.rr[key] = ctr
	}
	now := r.now()
	isDown := make([]bool, len(nodes))
	for i, n := range nodes {
		if until, ok := r.down[n.Address]; ok {
			if now.Before(until) {
				isDown[i] = true
			} else {
				delete(r.down, n.Address)
			}
		}
	}
	r.mu.Unlock()
	start := int(ctr.Add(1)-1) % len(nodes)
	up := make([]*regpb.Node, 0, len(nodes))
	var down []*regpb.Node
	for i := range nodes {
		j := (start + i) % len(nodes)
		if isDown[j] {
			down = append(down, nodes[j])
		} else {
			up = append(up, nodes[j])
		}
	}
	return append(up, down...)
}

// markDown notes that a node refused a connection.
func (r *Router) markDown(addr string) {
	r.mu.Lock()
	r.down[addr] = r.now().Add(downFor)
	r.mu.Unlock()
	r.pool.drop(addr)
}

// dialTLS is how node n is dialled: a hop to another micro node with
// ViaTLS, a service's own node in plaintext.
func (r *Router) dialTLS(n *regpb.Node) *tls.Config {
	if n.GetMetadata()[viaKey] == "" {
		return nil
	}
	return r.cfg.ViaTLS
}

// hop marks a call to another micro node's proxy as forwarded.
func (r *Router) hop(ctx context.Context, n *regpb.Node) context.Context {
	if n.GetMetadata()[viaKey] == "" {
		return ctx
	}
	return grpcmd.AppendToOutgoingContext(ctx, ForwardedHeader, r.cfg.Self)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// nodeConn is the connection of one route to a registered service: each
// call picks nodes in the router's order and moves to the next one when a
// node refuses the connection, which is safe since the call never reached
// it. A unary call whose connection broke under it (a node killed while
// its pooled connection was open) also moves on when the node now refuses
// connections: its process is gone, so the call gets an answer from a
// live node. That is at-least-once for the rare call a node read just
// before dying.
type nodeConn struct {
	r       *Router
	key     serviceKey
	service string
	nodes   []*regpb.Node
}

func (c *nodeConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) (err error) {
	if c.r.cfg.Tracer != nil {
		var span oteltrace.Span
		ctx, span = c.startSpan(ctx, method)
		defer func() { tracing.End(span, err) }()
	}
	var failures []string
	for i, n := range c.r.order(c.key, c.nodes) {
		if i == maxAttempts {
			break
		}
		conn, err := c.r.pool.get(n.Address, c.r.dialTLS(n))
		if err != nil {
			return errors.InternalServerError(errID, "connecting to %s: %v", n.Address, err)
		}
		err = conn.Invoke(c.r.hop(ctx, n), method, args, reply, opts...)
		if err == nil || ctx.Err() != nil || !(Refused(err) || (lostConnection(err) && gone(n.Address))) {
			return err
		}
		c.r.markDown(n.Address)
		failures = append(failures, n.Address)
	}
	return c.unavailable(failures)
}

// NewStream opens a stream; its span, when traced, lasts as long as the
// stream (tracing.ClientStream), or ends with the failure to open it.
func (c *nodeConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (cs grpc.ClientStream, err error) {
	if c.r.cfg.Tracer != nil {
		var span oteltrace.Span
		ctx, span = c.startSpan(ctx, method)
		defer func() {
			if err != nil {
				tracing.End(span, err)
			} else {
				cs = tracing.ClientStream(ctx, cs, span)
			}
		}()
	}
	var failures []string
	for i, n := range c.r.order(c.key, c.nodes) {
		if i == maxAttempts {
			break
		}
		conn, err := c.r.pool.get(n.Address, c.r.dialTLS(n))
		if err != nil {
			return nil, errors.InternalServerError(errID, "connecting to %s: %v", n.Address, err)
		}
		cs, err := conn.NewStream(c.r.hop(ctx, n), desc, method, opts...)
		if err == nil || !Refused(err) || ctx.Err() != nil {
			return cs, err
		}
		c.r.markDown(n.Address)
		failures = append(failures, n.Address)
	}
	return nil, c.unavailable(failures)
}

// startSpan starts the forward's client span and makes it the callee's
// parent in the outgoing metadata.
func (c *nodeConn) startSpan(ctx context.Context, method string) (context.Context, oteltrace.Span) {
	ctx, span := c.r.cfg.Tracer.Start(ctx, "forward "+strings.TrimPrefix(method, "/"),
		oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(attribute.String(tracing.Service, "router"),
			attribute.String(tracing.Namespace, metadata.NamespaceFrom(ctx))))
	return tracing.Outgoing(ctx), span
}

func (c *nodeConn) unavailable(addrs []string) error {
	return errors.ServiceUnavailable(errID, "service %s is unavailable: %s refused the connection", c.service,
		fmt.Sprintf("%d node(s) (%s)", len(addrs), strings.Join(addrs, ", ")))
}
