package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"micro.dev/micro/internal/clientaddr"
	"micro.dev/micro/node/tlsserve"
)

// tlsParts is what a node holds for TLS and the forwarding rule: the
// trusted proxies, the certificate source (nil without TLS), the plain-HTTP
// listener for ACME challenges and redirects, and the loopback listener
// that services started by the runtime reach the proxy on.
type tlsParts struct {
	trusted *clientaddr.Proxies
	tls     *tlsserve.TLS

	redirect   *http.Server // nil unless Config.HTTPAddress is set with TLS
	redirectLn net.Listener

	// servicesLn is a loopback-only plaintext listener of the proxy, for
	// the services the runtime starts (MICRO_PROXY) when the public one
	// speaks TLS only: their certificate check would need the public name,
	// and the traffic never leaves the machine.
	servicesLn net.Listener
}

// startTLS reads the forwarding rule and, when cfg asks for TLS, starts the
// certificate source and the listeners that come with it.
func (n *Node) startTLS(cfg Config) (err error) {
	if n.trusted, err = clientaddr.ParseProxies(cfg.TrustedProxies); err != nil {
		return err
	}
	tc := tlsserve.Config{
		Domains:   cfg.Domains,
		Email:     cfg.ACMEEmail,
		Directory: cfg.ACMEDirectory,
		CARoots:   cfg.ACMECARoots,
		CertFile:  cfg.TLSCert,
		KeyFile:   cfg.TLSKey,
		Cache:     tlsserve.NewCache(n.db),
		Logger:    n.log,
	}
	if !tc.Enabled() {
		if cfg.HTTPAddress != "" {
			n.log.Warn("--http-address ignored: it serves ACME challenges and redirects to HTTPS, and TLS is off")
		}
		return nil
	}
	if n.tls, err = tlsserve.New(tc); err != nil {
		return err
	}
	// Not under the per-address connection cap: every local service
	// comes from 127.0.0.1.
	if n.servicesLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("proxy for local services cannot listen on 127.0.0.1: %w", err)
	}
	if cfg.HTTPAddress != "" {
		if n.redirectLn, err = n.listen("http", cfg.HTTPAddress); err != nil {
			return err
		}
	}
	return nil
}

// servicesProxyAddr is the proxy address the runtime gives the services it
// starts.
func (n *Node) servicesProxyAddr() string {
	if n.servicesLn != nil {
		return n.servicesLn.Addr().String()
	}
	return n.proxyLis.Addr().String()
}

// httpsHandler adds HSTS to h's answers over HTTPS.
func (n *Node) httpsHandler(h http.Handler) http.Handler {
	return tlsserve.HSTS(h, n.trusted)
}

// scheme is how the gateway and dashboard are reached.
func (n *Node) scheme() string {
	if n.tls != nil {
		return "https://"
	}
	return "http://"
}

// serveHTTP serves srv on ln, over TLS when the node has it.
func (n *Node) serveHTTP(srv *http.Server, ln net.Listener) error {
	if n.tls == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = n.tls.ServerConfig()
	return srv.ServeTLS(ln, "", "")
}

// serveProxy serves the gRPC proxy on its listener, over TLS (HTTP/2 by
// ALPN) when the node has it, and then in plaintext on the loopback
// listener for local services too.
func (n *Node) serveProxy() {
	if n.tls == nil {
		n.serve("proxy", func() error { return n.proxy.Serve(n.proxyLis) })
		return
	}
	go n.serve("proxy for local services", func() error { return n.proxy.Server().Serve(n.servicesLn) })
	n.serve("proxy", func() error { return n.proxy.Serve(tls.NewListener(n.proxyLis, n.tls.ProxyConfig())) })
}

// startRedirect serves the plain-HTTP listener: ACME HTTP-01 challenges,
// and a redirect to the gateway's HTTPS for everything else. With ACME it
// also asks for the certificates now, so a problem shows in the log at
// start rather than at a visitor's first handshake.
func (n *Node) startRedirect() []any {
	if n.tls == nil {
		return nil
	}
	started := []any{"services_proxy", n.servicesLn.Addr().String()}
	if n.redirectLn != nil {
		_, port, _ := net.SplitHostPort(n.gatewayLn.Addr().String())
		n.redirect = n.limitHTTP(&http.Server{
			Handler:  n.tls.HTTPHandler(port), // before WarmUp: it enables HTTP-01
			ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		})
		go n.serve("http", func() error { return n.redirect.Serve(n.redirectLn) })
		started = append(started, "http", "http://"+n.redirectLn.Addr().String())
	}
	go n.tls.WarmUp(n.log)
	return started
}

// closeTLS stops the plain-HTTP listener and the certificate watcher.
func (n *Node) closeTLS() {
	if n.redirect != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := n.redirect.Shutdown(ctx); err != nil {
			n.redirect.Close()
		}
		cancel()
	} else if n.redirectLn != nil {
		n.redirectLn.Close()
	}
	n.tls.Close()
}

// RedirectAddr is the address of the plain-HTTP listener (ACME challenges
// and redirects), "" when there is none.
func (n *Node) RedirectAddr() string {
	if n.redirectLn == nil {
		return ""
	}
	return n.redirectLn.Addr().String()
}
