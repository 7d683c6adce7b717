package clientaddr

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestClient(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8, 127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "203.0.113.5:4000", nil, "203.0.113.5:4000"},
		{"untrusted peer's header ignored", "203.0.113.5:4000", []string{"127.0.0.1"}, "203.0.113.5:4000"},
		{"trusted peer without header", "10.1.2.3:5000", nil, "10.1.2.3:5000"},
		{"trusted peer forwards", "10.1.2.3:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client's own claim on the left ignored", "10.1.2.3:5000", []string{"127.0.0.1, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", "10.1.2.3:5000", []string{"198.51.100.9, 10.9.9.9", "10.0.0.1"}, "198.51.100.9"},
		{"every hop trusted", "127.0.0.1:5000", []string{"127.0.0.1"}, "127.0.0.1"},
		{"ipv6 loopback proxy", "[::1]:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"port on a hop", "10.1.2.3:5000", []string{"198.51.100.9:1234"}, "198.51.100.9"},
		{"garbage from a trusted proxy is unknown", "127.0.0.1:5000", []string{"198.51.100.9, nonsense"}, ""},
		{"mapped v4 peer", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.9"}, "198.51.100.9"},
	} {
		if got := p.Client(c.peer, c.xff); got != c.want {
			t.Errorf("%s: Client(%q, %q) = %q, want %q", c.name, c.peer, c.xff, got, c.want)
		}
	}
	var none *Proxies
	if got := none.Client("127.0.0.1:1", []string{"198.51.100.9"}); got != "127.0.0.1:1" {
		t.Errorf("nil Proxies believed a header: %q", got)
	}
}

func TestParseProxies(t *testing.T) {
	if p, err := ParseProxies(nil); p != nil || err != nil {
		t.Fatalf("empty list: %v, %v", p, err)
	}
	if p, err := ParseProxies([]string{" , "}); p != nil || err != nil {
		t.Fatalf("blank list: %v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,nope"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	p, err := ParseProxies([]string{"10.1.2.3/8"})
	if err != nil || p.String() != "10.0.0.0/8" {
		t.Fatalf("prefix not masked: %v %v", p, err)
	}
}

func TestOfAndSecure(t *testing.T) {
	p, _ := ParseProxies([]string{"192.0.2.0/24"})
	r := httptest.NewRequest("GET", "/", nil) // RemoteAddr 192.0.2.1:1234
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := p.Of(r); got != "198.51.100.9" {
		t.Fatalf("Of = %q", got)
	}
	if !p.Secure(r) {
		t.Fatal("trusted proxy's https not believed")
	}
	r.RemoteAddr = "203.0.113.5:80"
	if p.Of(r) != "203.0.113.5:80" || p.Secure(r) {
		t.Fatal("untrusted peer's headers believed")
	}
	r.TLS = &tls.ConnectionState{}
	if !p.Secure(r) {
		t.Fatal("TLS connection not secure")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "::1": true, "127.9.9.9": true,
		"": false, "inproc": false, "10.0.0.1:80": false, "[::ffff:127.0.0.1]:1": true,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}
