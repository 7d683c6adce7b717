package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
)

// DefaultForwardPort is the port of a node's forwarding listener unless
// --cluster-forward says otherwise: beside the route port (6222), and
// like it a port open between the nodes only.
const DefaultForwardPort = 6223

// ForwardAddress is where a node listens for calls other nodes forward to
// it: forward when given, else the route listener's host (the interface
// the cluster's traffic is on) at DefaultForwardPort.
func (cfg Config) ForwardAddress(forward string) (string, error) {
	if forward != "" {
		if _, _, err := net.SplitHostPort(forward); err != nil {
			return "", fmt.Errorf("--cluster-forward %q is not HOST:PORT", forward)
		}
		return forward, nil
	}
	listen, err := parseAddr(cfg.Listen, true)
	if err != nil {
		return "", fmt.Errorf("--cluster: %w", err)
	}
	return net.JoinHostPort(listen.Hostname(), strconv.Itoa(DefaultForwardPort)), nil
}

// ForwardTLS is the TLS of the hop between nodes when the routes have it
// (TLSCert set): the same certificate and CAs, both ways. The server side
// asks every caller for a certificate chaining to TLSCA (the system's
// roots when empty); the client side presents its own and checks the
// peer's against TLSCA and the host it dials, as a route does. Both are
// nil without cluster TLS: the hop is then plaintext, like the routes.
func (cfg Config) ForwardTLS() (server, client *tls.Config, err error) {
	if cfg.TLSCert == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("--cluster-tls-cert/key: %w", err)
	}
	var roots *x509.CertPool // nil: the system's
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, nil, fmt.Errorf("--cluster-tls-ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--cluster-tls-ca %s holds no PEM certificate", cfg.TLSCA)
		}
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS12,
	}
	return server, client, nil
}
