package cli

import (
	"slices"
	"testing"
)

func TestServerTLSFlags(t *testing.T) {
	isolate(t)
	for _, k := range []string{"MICRO_GATEWAY_ADDRESS", "MICRO_HTTP_ADDRESS", "MICRO_DOMAIN", "MICRO_TRUSTED_PROXIES", "MICRO_TLS_CERT", "MICRO_TLS_KEY", "MICRO_ACME_EMAIL", "MICRO_ACME_DIRECTORY", "MICRO_ACME_CA_ROOTS"} {
		t.Setenv(k, "")
	}
	cfg := stubNode(t, nil)

	mustRun(t, "server")
	if cfg.Domains != nil || cfg.HTTPAddress != "" || cfg.GatewayAddress != ":8080" || cfg.TrustedProxies != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	// --domain moves the gateway to :443 and opens :80.
	mustRun(t, "server", "--domain", "api.example.com, www.example.com", "--acme-email", "ops@example.com")
	if !slices.Equal(cfg.Domains, []string{"api.example.com", "www.example.com"}) || cfg.GatewayAddress != ":443" ||
		cfg.HTTPAddress != ":80" || cfg.ACMEEmail != "ops@example.com" {
		t.Errorf("--domain: %+v", cfg)
	}
	// Given addresses win, from the command line or the environment.
	t.Setenv("MICRO_DOMAIN", "api.example.com")
	t.Setenv("MICRO_HTTP_ADDRESS", ":8000")
	t.Setenv("MICRO_ACME_DIRECTORY", "https://acme.test/dir")
	t.Setenv("MICRO_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.7")
	mustRun(t, "server", "--gateway-address", ":8443")
	if cfg.GatewayAddress != ":8443" || cfg.HTTPAddress != ":8000" || cfg.ACMEDirectory != "https://acme.test/dir" ||
		!slices.Equal(cfg.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.7"}) {
		t.Errorf("environment: %+v", cfg)
	}
	t.Setenv("MICRO_DOMAIN", "")
	mustRun(t, "server", "--tls-cert", "c.pem", "--tls-key", "k.pem")
	if cfg.TLSCert != "c.pem" || cfg.TLSKey != "k.pem" || cfg.GatewayAddress != ":8080" || cfg.Domains != nil {
		t.Errorf("--tls-cert: %+v", cfg)
	}
}
