// Package clientaddr decides who a request came from. A connection's peer
// is the client, unless that peer is a proxy the operator trusts
// (--trusted-proxies): then the client is the address the proxy forwards in
// X-Forwarded-For, and the scheme it was reached with is X-Forwarded-Proto.
// Headers from anyone else are the client's own claims and are ignored, so
// a client cannot pick the address its login attempts count against, or
// pass for a local caller.
//
// This is the one place the rule lives: the gateway, the dashboard and the
// gRPC proxy all ask it.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of networks whose forwarding headers are believed.
// The nil *Proxies trusts no one.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads a list of CIDRs ("10.0.0.0/8") and single addresses
// ("192.0.2.7"), as given to --trusted-proxies; entries may also be
// comma-separated within one string. An empty list gives nil: trust no one.
func ParseProxies(list []string) (*Proxies, error) {
	var p Proxies
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if strings.Contains(s, "/") {
				prefix, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
				}
				p.prefixes = append(p.prefixes, prefix.Masked())
				continue
			}
			addr, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
			}
			addr = addr.Unmap()
			p.prefixes = append(p.prefixes, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	if len(p.prefixes) == 0 {
		return nil, nil
	}
	return &p, nil
}

// String lists the trusted networks, comma-separated.
func (p *Proxies) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(p.prefixes))
	for i, prefix := range p.prefixes {
		s[i] = prefix.String()
	}
	return strings.Join(s, ",")
}

// Trusts reports whether addr ("ip", "ip:port" or "[ip]:port") is a trusted
// proxy.
func (p *Proxies) Trusts(addr string) bool {
	if p == nil {
		return false
	}
	ip, ok := parseIP(addr)
	if !ok {
		return false
	}
	for _, prefix := range p.prefixes {
		if prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// Client is the real client behind a connection from peer whose
// forwarding header lists forwardedFor (each element may itself be a
// comma-separated list, as several X-Forwarded-For headers are). Unless
// peer is trusted, peer is the answer. Otherwise the list is read from the
// right, the hop nearest to us, skipping trusted proxies: the first address
// that is not one is the client. Entries further left were written by the
// client or by proxies we do not know, so they are never believed. When
// every hop is trusted the leftmost is the client. A trusted proxy that
// forwards something that is not an address gets "" (unknown) rather than
// its own address, which could pass for a local caller.
func (p *Proxies) Client(peer string, forwardedFor []string) string {
	if !p.Trusts(peer) {
		return peer
	}
	var hops []string
	for _, v := range forwardedFor {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	if len(hops) == 0 {
		return peer
	}
	client := ""
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseIP(hops[i])
		if !ok {
			return ""
		}
		client = ip.String()
		if !p.Trusts(client) {
			return client
		}
	}
	return client
}

// Of is the real client address of r under p: r.RemoteAddr, or what a
// trusted proxy forwards in X-Forwarded-For.
func (p *Proxies) Of(r *http.Request) string {
	return p.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// Secure reports whether the client reached us over TLS: r came over TLS,
// or a trusted proxy says (X-Forwarded-Proto: https) that it took the
// request over HTTPS.
func (p *Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.Trusts(r.RemoteAddr) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// IsLoopback reports whether addr ("ip", "ip:port" or "[ip]:port") is a
// loopback address; "" and anything unparsable are not.
func IsLoopback(addr string) bool {
	ip, ok := parseIP(addr)
	return ok && ip.IsLoopback()
}

// parseIP reads "ip", "ip:port", "[ip]" or "[ip]:port".
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if i := strings.IndexByte(s, '%'); i >= 0 { // a zone says nothing of who it is
		s = s[:i]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
