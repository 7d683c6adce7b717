package cli

import (
	"flag"

	"micro.dev/micro/node"
)

// tlsFlags are `micro server`'s TLS and load-balancer flags; the lists
// arrive comma-separated and are split by apply.
type tlsFlags struct {
	domains, trustedProxies string
}

func serverTLSFlags(fs *flag.FlagSet, cfg *node.Config) *tlsFlags {
	f := &tlsFlags{}
	fs.StringVar(&f.domains, "domain", "", "serve HTTPS for these host `names` (comma-separated) with certificates obtained and renewed\n"+
		"from an ACME CA (Let's Encrypt by default) and kept in the database; ports 80 and 443 must be\n"+
		"reachable from the internet; the gateway moves to :443 unless --gateway-address is given")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "`address` the ACME CA may send certificate expiry and problem notices to")
	fs.StringVar(&cfg.ACMEDirectory, "acme-directory", "", "ACME directory `URL` (default Let's Encrypt's production CA; use its staging CA for tries)")
	fs.StringVar(&cfg.ACMECARoots, "acme-ca-roots", "", "PEM `file` of CA certificates trusted for the ACME directory's own HTTPS (a private or test CA)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS and gRPC over TLS with this PEM certificate chain `file` (with --tls-key);\n"+
		"read again when it changes or on SIGHUP")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&cfg.HTTPAddress, "http-address", "", "plain-HTTP listen `address` answering ACME challenges and redirecting to HTTPS;\n"+
		"default :80 with --domain, none otherwise")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "`CIDRs` (comma-separated) of load balancers whose X-Forwarded-For and X-Forwarded-Proto are believed")
	return f
}

// apply splits the lists and fills the defaults --domain implies: the
// gateway on :443 and the plain-HTTP listener on :80, unless given.
func (f *tlsFlags) apply(fs *flag.FlagSet, cfg *node.Config) error {
	cfg.Domains = splitList(f.domains)
	cfg.TrustedProxies = splitList(f.trustedProxies)
	if len(cfg.Domains) == 0 {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["gateway-address"] {
		cfg.GatewayAddress = ":443"
	}
	if !set["http-address"] {
		cfg.HTTPAddress = ":80"
	}
	return nil
}
