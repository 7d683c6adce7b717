package node

import (
	"strings"
	"testing"
)

// TestAdvertise: the proxy address other nodes are told is reachable:
// never the unspecified address a listener binds.
func TestAdvertise(t *testing.T) {
	for _, tc := range []struct {
		proxy, host, route string
		peers              []string
		want               string
	}{
		{"10.0.0.5:8081", "", "0.0.0.0:6222", nil, "10.0.0.5:8081"},                     // the proxy's own host
		{"[::]:8081", "node-a.internal", "0.0.0.0:6222", nil, "node-a.internal:8081"},   // --cluster-advertise
		{"0.0.0.0:8081", "", "192.168.1.7:6222", nil, "192.168.1.7:8081"},               // the route listener's
		{"[::]:8081", "", "0.0.0.0:6222", []string{"127.0.0.1:6223"}, "127.0.0.1:8081"}, // facing the first peer
		{"[::]:8081", "", ":6222", []string{"nats://127.0.0.1:6223"}, "127.0.0.1:8081"}, // same, URL form
	} {
		got, err := advertise(tc.proxy, tc.host, tc.route, tc.peers)
		if err != nil || got != tc.want {
			t.Errorf("advertise(%q, %q, %q, %v) = %q, %v; want %q", tc.proxy, tc.host, tc.route, tc.peers, got, err, tc.want)
		}
	}
	if _, err := advertise("[::]:8081", "", "0.0.0.0:6222", nil); err == nil || !strings.Contains(err.Error(), "--cluster-advertise") {
		t.Errorf("no host anywhere: %v", err)
	}
}
