package runtime

import (
	"testing"

	"micro.dev/micro/framework/client"
)

// TestLocalAddress: the proxy address services get is dialled in plaintext,
// as the listener it names serves, wherever it is bound.
func TestLocalAddress(t *testing.T) {
	for in, want := range map[string]string{
		":8081":          "127.0.0.1:8081",
		"[::]:8081":      "127.0.0.1:8081",
		"0.0.0.0:8081":   "127.0.0.1:8081",
		"127.0.0.1:8081": "127.0.0.1:8081",
		"[::1]:8081":     "[::1]:8081",
		"localhost:8081": "localhost:8081",
		"10.0.0.5:8081":  "http://10.0.0.5:8081",
	} {
		got := localAddress(in)
		if got != want {
			t.Errorf("localAddress(%q) = %q, want %q", in, got, want)
		}
		if tg, err := client.ParseTarget(got, client.Security{}); err != nil || tg.TLS != nil {
			t.Errorf("services would dial %q with TLS %v (err %v)", got, tg.TLS != nil, err)
		}
	}
}
