package dashboard

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// defaultAPIPort is the gateway's port when Config.APIAddress says none.
const defaultAPIPort = "8080"

// apiBase is the URL the page sends its API calls to, without a trailing
// slash: Config.APIAddress when it is a URL, else the page's own host with
// the gateway's port. Following the page's host keeps the dashboard working
// however it is reached (localhost, a VM's name, an SSH tunnel with the same
// ports), which a fixed address would not.
func (h *Handler) apiBase(r *http.Request) (string, error) {
	addr := ""
	if h.cfg.APIAddress != nil {
		addr = strings.TrimSpace(h.cfg.APIAddress())
	}
	if strings.Contains(addr, "://") {
		return apiURL(addr)
	}
	port := defaultAPIPort
	if addr != "" {
		if _, p, err := net.SplitHostPort(addr); err == nil && p != "" {
			port = p
		}
	}
	host, err := pageHost(r)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if h.cfg.TrustedProxies.Secure(r) {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// CheckAPIAddress reports whether s is an APIAddress the dashboard can
// use: an http(s) URL, or a listen address (only its port is used).
func CheckAPIAddress(s string) error {
	if strings.Contains(s, "://") {
		_, err := apiURL(s)
		return err
	}
	return nil
}

// apiURL checks a configured API URL and drops a trailing slash.
func apiURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || !validHost(u.Hostname()) {
		return "", errors.New("dashboard: the API address must be an http(s) URL with a host and no query, not " + s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// hostPattern is what a host name or IPv4 address may hold.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validHost accepts a host name, an IPv4 address or an IPv6 literal
// (without brackets). The host goes into a header (CSP) and the page, so
// anything else is refused rather than escaped.
func validHost(host string) bool {
	if strings.Contains(host, ":") {
		ip := net.ParseIP(host)
		return ip != nil && ip.To4() == nil
	}
	return hostPattern.MatchString(host)
}

// errBadHost answers a request whose Host header cannot name the API host.
var errBadHost = errors.New("bad Host header")

// pageHost is the host name (no port, no brackets) the browser used to
// reach the dashboard.
func pageHost(r *http.Request) (string, error) {
	hostport := r.Host
	if hostport == "" {
		return "localhost", nil // HTTP/1.0 without Host
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if !validHost(host) {
		return "", errBadHost
	}
	return host, nil
}

// originOf is scheme://host[:port] of an absolute URL, "" if it has none.
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// securityHeaders sets the headers every answer carries. The policy lets
// the page load only its own assets and talk only to itself and the API;
// no inline script or style is needed, so none is allowed.
func securityHeaders(h http.Header, apiOrigin string) {
	connect := "'self'"
	if apiOrigin != "" {
		connect += " " + apiOrigin
	}
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src "+connect+"; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
