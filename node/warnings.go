package node

import (
	"net"
	"strings"
)

// The server warns at start, one line each, for every setting that leaves
// it open to more than this machine: plaintext on a non-loopback address,
// the default admin password, public metrics. A server on a public VM then
// says in its first lines what to fix.

// exposure is one of the server's listeners, as the warnings see it.
type exposure struct {
	name string // "gateway", "proxy", "dashboard", "cluster-forward"
	addr net.Addr
	tls  bool
	// cluster is a listener between the nodes of a cluster, made safe by
	// the cluster's TLS rather than the public certificate.
	cluster bool
}

// warning is one log line.
type warning struct {
	msg   string
	attrs []any
}

// unsafeSettings returns the warnings for what is still unsafe.
func unsafeSettings(listeners []exposure, defaultPassword, metricsPublic bool) []warning {
	var out []warning
	var plain, plainCluster []string
	for _, l := range listeners {
		switch {
		case l.tls || loopbackListener(l.addr):
		case l.cluster:
			plainCluster = append(plainCluster, l.name+"="+l.addr.String())
		default:
			plain = append(plain, l.name+"="+l.addr.String())
		}
	}
	if len(plain) > 0 {
		out = append(out, warning{"unsafe: plaintext on a non-loopback address: passwords and tokens cross the network in the clear; " +
			"serve TLS (--domain, or --tls-cert and --tls-key) or listen on 127.0.0.1 behind a TLS proxy",
			[]any{"listeners", strings.Join(plain, " ")}})
	}
	if len(plainCluster) > 0 {
		out = append(out, warning{"unsafe: calls forwarded between the cluster's nodes cross the network in plaintext, with their tokens; " +
			"give every node --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca (mutual TLS, as for the routes) or keep the nodes on a private network",
			[]any{"listeners", strings.Join(plainCluster, " ")}})
	}
	if defaultPassword {
		out = append(out, warning{"unsafe: the admin account still has the default password \"micro\" (accepted from loopback only); " +
			"set one with 'micro user set password' or start with --admin-password (MICRO_ADMIN_PASSWORD)", nil})
	}
	if metricsPublic {
		out = append(out, warning{"unsafe: GET /metrics is public (--metrics-public): anyone who reaches the gateway reads its " +
			"services, endpoints and traffic; give scrapers --metrics-token instead", nil})
	}
	return out
}

// loopbackListener reports whether addr accepts connections from this
// machine only. An unspecified address (":8080") listens on every
// interface.
func loopbackListener(addr net.Addr) bool {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnUnsafe logs the start's warnings, once each.
func (n *Node) warnUnsafe(cfg Config, servesTLS bool) {
	listeners := []exposure{
		{"gateway", n.gatewayLn.Addr(), servesTLS, false},
		{"proxy", n.proxyLis.Addr(), servesTLS, false},
	}
	if n.dashboardLn != nil {
		listeners = append(listeners, exposure{"dashboard", n.dashboardLn.Addr(), servesTLS, false})
	}
	if n.forwardLn != nil {
		listeners = append(listeners, exposure{"cluster-forward", n.forwardLn.Addr(), n.forwardTLS != nil, true})
	}
	for _, w := range unsafeSettings(listeners, n.auth.DefaultPasswordInUse(), cfg.MetricsPublic) {
		n.log.Warn(w.msg, w.attrs...)
	}
}
