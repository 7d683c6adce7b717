package tlsserve

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// failureWindow is how often a domain whose certificate the ACME CA does
// not issue is reported: autocert itself tries again at most once a
// minute, failing every handshake in between.
const failureWindow = time.Minute

// errNoCertYet is what autocert answers the handshakes that come while a
// failed issuance is waiting to be tried again: not the reason.
const errNoCertYet = "acme/autocert: missing certificate"

// acmeFailures reports a domain's certificate not obtained. autocert's
// errors otherwise surface only in the failed TLS handshakes of clients
// the operator never sees; here each failing domain is logged at ERROR
// with the CA's reason once per window, with how many handshakes failed
// since, so a client hammering the TLS port cannot flood the log, and once
// at INFO when its certificate comes.
type acmeFailures struct {
	log    *slog.Logger
	now    func() time.Time
	window time.Duration

	any atomic.Bool // some domain is failing: only then does success lock
	mu  sync.Mutex
	// failing holds only configured domains (names outside them are the
	// client's mistake, refused by the host policy), so it stays bounded.
	failing map[string]*domainFailure
}

type domainFailure struct {
	reason   string // the CA's or the network's, not errNoCertYet
	reported time.Time
	failed   int // handshakes failed since the last report
}

func newACMEFailures(log *slog.Logger) *acmeFailures {
	return &acmeFailures{log: log, now: time.Now, window: failureWindow, failing: map[string]*domainFailure{}}
}

// failed records that a certificate for domain, one of ours, was not
// obtained, and logs it if its window allows.
func (f *acmeFailures) failed(domain string, err error) {
	now := f.now()
	f.mu.Lock()
	d := f.failing[domain]
	if d == nil {
		d = &domainFailure{}
		f.failing[domain] = d
		f.any.Store(true)
	}
	if msg := err.Error(); msg != errNoCertYet || d.reason == "" {
		d.reason = msg
	}
	d.failed++
	report := d.reported.IsZero() || now.Sub(d.reported) >= f.window
	reason, failed := d.reason, d.failed
	if report {
		d.reported, d.failed = now, 0
	}
	f.mu.Unlock()
	if !report {
		return
	}
	attrs := []any{"domain", domain, "reason", reason, "failed_handshakes", failed, "next_report_after", f.window}
	if strings.Contains(reason, "no viable challenge type") {
		// autocert drops why each challenge failed; this is what usually
		// does it.
		attrs = append(attrs, "hint", "the CA validated no challenge: the domain must resolve to this server, "+
			"and the CA reach it on port 443 (TLS-ALPN-01) or on port 80 through --http-address (HTTP-01)")
	}
	f.log.Error("TLS certificate not obtained from the ACME CA; HTTPS and gRPC handshakes naming the domain fail until it is", attrs...)
}

// obtained notes that domain has its certificate, logging it once if it
// was failing. Cheap when nothing fails: it runs on every handshake.
func (f *acmeFailures) obtained(domain string) {
	if !f.any.Load() {
		return
	}
	f.mu.Lock()
	d := f.failing[domain]
	delete(f.failing, domain)
	f.any.Store(len(f.failing) > 0)
	f.mu.Unlock()
	if d != nil {
		f.log.Info("TLS certificate obtained from the ACME CA after failures", "domain", domain, "failed_handshakes", d.failed)
	}
}
