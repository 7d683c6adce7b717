package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"micro.dev/micro/framework/codec"
)

// Environment variables a service (and the CLI) reads to reach a TLS proxy.
const (
	// EnvProxyCA names a PEM file of the certificate authorities that sign
	// the proxy's certificate, trusted instead of the system's roots.
	EnvProxyCA = "MICRO_PROXY_CA"
	// EnvProxyInsecure, when true, uses TLS without checking the proxy's
	// certificate.
	EnvProxyInsecure = "MICRO_PROXY_INSECURE"
)

// Security is how a client trusts a proxy it reaches over TLS. The zero
// value trusts the system's roots. Either field also means TLS, whatever
// the address (see ParseTarget).
type Security struct {
	// CA is PEM: the certificate authorities to trust instead of the
	// system's roots (a private CA, a self-signed certificate).
	CA []byte
	// Insecure uses TLS without checking the server's certificate. It is
	// never chosen for the user: only a flag or variable that says so sets it.
	Insecure bool
}

// SecurityFromEnv reads MICRO_PROXY_CA and MICRO_PROXY_INSECURE through
// getenv. A CA file that cannot be read or holds no certificate, or an
// insecure value that is not a boolean, is an error: a setting that cannot
// be honoured never quietly falls back to less.
func SecurityFromEnv(getenv func(string) string) (Security, error) {
	var s Security
	if path := strings.TrimSpace(getenv(EnvProxyCA)); path != "" {
		pem, err := ReadCA(path)
		if err != nil {
			return Security{}, fmt.Errorf("%s: %w", EnvProxyCA, err)
		}
		s.CA = pem
	}
	if v := strings.TrimSpace(getenv(EnvProxyInsecure)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Security{}, fmt.Errorf("%s=%q: give true or false", EnvProxyInsecure, v)
		}
		s.Insecure = b
	}
	return s, nil
}

// ReadCA reads a PEM file of CA certificates and checks it holds at least
// one.
func ReadCA(path string) ([]byte, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CA file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pem, nil
}

// Target is where a connection goes and how: an address to dial and the
// TLS configuration, nil for plaintext.
type Target struct {
	// Address is host:port.
	Address string
	// TLS is the client's TLS configuration; nil means plaintext.
	TLS *tls.Config
}

// ParseTarget works out how to reach a proxy at addr. The rule:
//
//   - "https://host[:port]" is TLS (port 443 by default); "http://host:port"
//     is plaintext, the user's explicit choice.
//   - Otherwise a CA or Insecure in sec means TLS.
//   - Otherwise an address on this machine (127.0.0.0/8, ::1, localhost, or
//     an empty or unspecified host, as listen addresses such as ":8081" are
//     written) is plaintext; any other host is TLS, as is port 443 and a
//     host without a port (which gets 443).
//
// So a client never speaks plaintext to another machine unless told to with
// http://, and never falls back to it: a TLS target that fails the
// handshake fails the call. TLS verifies the server's certificate against
// sec.CA, else the system's roots, unless sec.Insecure.
func ParseTarget(addr string, sec Security) (Target, error) {
	if strings.TrimSpace(addr) == "" {
		return Target{}, fmt.Errorf("no proxy address: give host:port")
	}
	scheme, rest, found := strings.Cut(addr, "://")
	if !found {
		scheme, rest = "", addr
	}
	scheme = strings.ToLower(scheme)
	if scheme != "" && scheme != "http" && scheme != "https" {
		return Target{}, fmt.Errorf("proxy address %q: unknown scheme %q; use https://host:port, http://host:port or host:port", addr, scheme)
	}
	rest = strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		if scheme == "http" {
			return Target{}, fmt.Errorf("proxy address %q has no port: give http://host:port", addr)
		}
		host, port = strings.Trim(rest, "[]"), "443"
	}
	if port == "" {
		return Target{}, fmt.Errorf("proxy address %q has no port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	hostport := net.JoinHostPort(host, port)
	explicit := len(sec.CA) > 0 || sec.Insecure
	var useTLS bool
	switch {
	case scheme == "https":
		useTLS = true
	case scheme == "http":
		if explicit {
			return Target{}, fmt.Errorf("proxy address %q says plaintext (http://) but a CA or insecure TLS was given; use https:// or drop them", addr)
		}
	case explicit, port == "443":
		useTLS = true
	default:
		useTLS = !IsLocalHost(host)
	}
	if !useTLS {
		return Target{Address: hostport}, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: sec.Insecure}
	if len(sec.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(sec.CA) {
			return Target{}, fmt.Errorf("the CA holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return Target{Address: hostport, TLS: cfg}, nil
}

// NodeTarget works out how to reach a service node directly (bypassing
// the proxy): nodes serve plaintext at the "host:port" they registered, so
// that is plaintext; an address with a scheme follows ParseTarget.
func NodeTarget(addr string, sec Security) (Target, error) {
	if strings.Contains(addr, "://") {
		return ParseTarget(addr, sec)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Target{}, fmt.Errorf("node address %q: give host:port", addr)
	}
	return Target{Address: addr}, nil
}

// IsLocalHost reports whether host names this machine: localhost, a
// loopback address, or the unspecified address (which connects here).
func IsLocalHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// Dial connects to the micro proxy at addr, reached as ParseTarget says.
func Dial(addr string, sec Security, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	t, err := ParseTarget(addr, sec)
	if err != nil {
		return nil, err
	}
	return Connect(t, opts...)
}

// Connect is the one way micro dials gRPC, for the CLI, services' clients
// and the network block alike: t's transport security, the message limit
// each way (codec.MaxMessageSize), micro's codecs (by importing codec), a
// reconnect backoff that finds a restarted server within a second or two,
// and the user agent "micro" unless opts give another. The connection is
// made on first use.
func Connect(t Target, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t.TLS != nil {
		creds = credentials.NewTLS(t.TLS)
	}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("micro"),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(codec.MaxMessageSize), grpc.MaxCallSendMsgSize(codec.MaxMessageSize)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	return grpc.NewClient("passthrough:///"+t.Address, append(base, opts...)...)
}
