// Package tlsserve is how a node serves TLS: a certificate obtained and
// renewed from an ACME CA (Let's Encrypt by default) for --domain, cached in
// the database, or a certificate and key from files that are read again
// when they change. It also holds what HTTPS serving needs around that: the
// plain-HTTP listener's handler (ACME HTTP-01 challenges, else a redirect
// to HTTPS) and HSTS.
package tlsserve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"micro.dev/micro/internal/clientaddr"
)

// Config says where certificates come from: Domains (ACME) or CertFile and
// KeyFile, never both. Neither means no TLS.
type Config struct {
	// Domains are the names certificates are obtained for from the ACME
	// CA; the CA checks each resolves to this server, on port 80
	// (HTTP-01) or 443 (TLS-ALPN-01).
	Domains []string
	// Email is given to the CA for expiry and problem notices; optional.
	Email string
	// Directory is the ACME CA's directory URL; empty means Let's
	// Encrypt's production CA.
	Directory string
	// CARoots is a PEM file of CA certificates to trust for the ACME
	// directory's own HTTPS, instead of the system's (a test or private
	// CA); empty means the system's.
	CARoots string
	// Cache keeps the ACME account and certificates; needed with Domains.
	Cache autocert.Cache
	// CertFile and KeyFile are a PEM certificate chain and its key.
	CertFile, KeyFile string
	// Logger receives reloads and failures; nil means slog.Default().
	Logger *slog.Logger
}

// Enabled reports whether cfg asks for TLS.
func (cfg Config) Enabled() bool {
	return len(cfg.Domains) > 0 || cfg.CertFile != "" || cfg.KeyFile != ""
}

// TLS is a source of certificates for a node's listeners.
type TLS struct {
	domains  []string
	acme     *autocert.Manager // nil with files
	failures *acmeFailures     // nil with files
	files    *fileCert         // nil with ACME
}

// New starts the certificate source cfg describes. With files the pair is
// read at once, so a bad path or pair fails the start; with ACME the first
// certificate is obtained on the first TLS handshake that names a domain.
func New(cfg Config) (*TLS, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	switch {
	case !cfg.Enabled():
		return nil, errors.New("tls: give --domain, or --tls-cert and --tls-key")
	case len(cfg.Domains) > 0 && (cfg.CertFile != "" || cfg.KeyFile != ""):
		return nil, errors.New("--domain obtains certificates itself: give it or --tls-cert and --tls-key, not both")
	case len(cfg.Domains) == 0:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together: give both")
		}
		files, err := loadFiles(cfg.CertFile, cfg.KeyFile, log)
		if err != nil {
			return nil, err
		}
		return &TLS{files: files}, nil
	}
	for _, d := range cfg.Domains {
		if err := checkDomain(d); err != nil {
			return nil, err
		}
	}
	if cfg.Cache == nil {
		return nil, errors.New("tls: ACME needs a cache")
	}
	client := &acme.Client{DirectoryURL: cfg.Directory, UserAgent: "micro"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if cfg.CARoots != "" {
		pool, err := loadRoots(cfg.CARoots)
		if err != nil {
			return nil, err
		}
		client.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{RootCAs: pool},
			TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      cfg.Cache,
		HostPolicy: autocert.HostWhitelist(cfg.Domains...),
		Email:      cfg.Email,
		Client:     client,
	}
	return &TLS{domains: cfg.Domains, acme: m, failures: newACMEFailures(log)}, nil
}

// checkDomain refuses what no CA issues for, with a message that says why,
// rather than a failed order at the first handshake.
func checkDomain(d string) error {
	switch {
	case d == "" || strings.ContainsAny(d, "/: ") || strings.HasSuffix(d, "."):
		return fmt.Errorf("--domain %q: give a host name such as api.example.com (no scheme, port or path)", d)
	case net.ParseIP(d) != nil:
		return fmt.Errorf("--domain %q: ACME certificates are for host names, not IP addresses", d)
	case !strings.Contains(d, "."):
		return fmt.Errorf("--domain %q: a public CA issues only for fully qualified names such as api.example.com", d)
	}
	return nil
}

func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--acme-ca-roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--acme-ca-roots %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ServerConfig is the TLS configuration of the HTTPS listeners (gateway,
// dashboard): HTTP/2, HTTP/1.1 and, with ACME, TLS-ALPN-01 challenges.
func (t *TLS) ServerConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: t.getCertificate,
	}
	if t.acme != nil {
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
	}
	return cfg
}

// ProxyConfig is the TLS configuration of the gRPC proxy: the same
// certificate, HTTP/2 only.
func (t *TLS) ProxyConfig() *tls.Config {
	cfg := t.ServerConfig()
	cfg.NextProtos = []string{"h2"}
	return cfg
}

func (t *TLS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if t.files != nil {
		return t.files.getCertificate(hello)
	}
	// A client that dials by IP sends no name; give it the first
	// domain's certificate rather than no answer.
	if hello.ServerName == "" {
		hello.ServerName = t.domains[0]
	}
	cert, err := t.acme.GetCertificate(hello)
	// autocert matches names without case or a trailing dot.
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if !slices.ContainsFunc(t.domains, func(d string) bool { return strings.EqualFold(d, name) }) {
		return cert, err // not ours: the host policy refused it
	}
	if err != nil {
		t.failures.failed(name, err)
	} else {
		t.failures.obtained(name)
	}
	return cert, err
}

// HTTPHandler answers the plain-HTTP listener (:80): ACME HTTP-01
// challenges, and a permanent redirect to HTTPS on httpsPort for everything
// else.
func (t *TLS) HTTPHandler(httpsPort string) http.Handler {
	redirect := Redirect(httpsPort)
	if t.acme == nil {
		return redirect
	}
	acmeHandler := t.acme.HTTPHandler(redirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against the domains as it is;
		// a validator reaching a listener off port 80 sends a port too.
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		acmeHandler.ServeHTTP(w, r)
	})
}

// Redirect answers every request with a redirect to the same URL over
// HTTPS on port httpsPort ("443" or "" for the default port).
func Redirect(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		if httpsPort != "" && httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		// 308 keeps the method and body, so an API POST is not turned
		// into a GET.
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// WarmUp obtains (or loads from the cache) the domains' certificates, so a
// problem (DNS, port 80 unreachable, a CA refusal) is logged at start
// rather than at the first visitor's handshake; a failure is reported as a
// handshake's is, and so counts towards its window. It does nothing with
// files. autocert bounds each attempt (five minutes).
func (t *TLS) WarmUp(log *slog.Logger) {
	if t.acme == nil {
		return
	}
	for _, d := range t.domains {
		hello := &tls.ClientHelloInfo{ServerName: d, SupportedProtos: []string{"h2"},
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves: []tls.CurveID{tls.CurveP256}, SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
		cert, err := t.getCertificate(hello)
		if err == nil && cert.Leaf != nil {
			log.Info("TLS certificate ready", "domain", d, "not_after", cert.Leaf.NotAfter)
		}
	}
}

// Close stops watching certificate files.
func (t *TLS) Close() {
	if t != nil && t.files != nil {
		t.files.close()
	}
}

// HSTSMaxAge is how long browsers are told to use only HTTPS with us.
const HSTSMaxAge = 365 * 24 * time.Hour

// HSTS adds Strict-Transport-Security to the answers of h to requests that
// came over HTTPS, directly or through a trusted proxy (HSTS on a plain
// HTTP answer means nothing to a browser, and would be a lie).
func HSTS(h http.Handler, proxies *clientaddr.Proxies) http.Handler {
	value := fmt.Sprintf("max-age=%d", int(HSTSMaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxies.Secure(r) {
			w.Header().Set("Strict-Transport-Security", value)
		}
		h.ServeHTTP(w, r)
	})
}
