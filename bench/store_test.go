package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"micro.dev/micro/internal/testkit"
)

// value is what each benchmark record holds (100 bytes; base64 in JSON).
var value = bytes.Repeat([]byte("v"), 100)

// BenchmarkStoreRead reads one record by key through the node's gateway
// (HTTP JSON, an admin's token checked on every call) and, as the
// baseline, through the minimal net/http server on SQLite; 16 callers.
func BenchmarkStoreRead(b *testing.B) {
	hc := httpClient()
	b.Run(fmt.Sprintf("gateway-%d", callers), func(b *testing.B) {
		n := startNode(b)
		base := "http://" + n.GatewayAddr()
		token := testkit.AdminToken(b, hc, base)
		readBench(b, hc, base+"/store/Store/Write", base+"/store/Store/Read", token)
	})
	b.Run(fmt.Sprintf("nethttp-%d", callers), func(b *testing.B) {
		base := startSQLitePeer(b, false)
		readBench(b, hc, base+"/write", base+"/read", "")
	})
}

func readBench(b *testing.B, c *http.Client, writeURL, readURL, token string) {
	body := fmt.Sprintf(`{"record":{"key":"k","value":%q}}`, b64(value))
	if _, err := post(c, writeURL, token, body); err != nil {
		b.Fatal(err)
	}
	want := []byte(b64(value))
	run(b, true, func() error {
		got, err := post(c, readURL, token, `{"key":"k"}`)
		if err != nil {
			return err
		}
		if !bytes.Contains(got, want) {
			return fmt.Errorf("read answered %s", got)
		}
		return nil
	})
}

// BenchmarkStoreWrite writes records with new keys through the node's
// gateway (each acknowledged after its commit, synchronous=FULL) and
// through the minimal net/http server on SQLite with the same pragmas:
// one transaction per write, and writes arriving together batched into
// one transaction; 16 callers.
func BenchmarkStoreWrite(b *testing.B) {
	hc := httpClient()
	var seq atomic.Int64
	write := func(b *testing.B, url, token string) {
		run(b, true, func() error {
			_, err := post(hc, url, token, fmt.Sprintf(`{"record":{"key":"k%d","value":%q}}`, seq.Add(1), b64(value)))
			return err
		})
	}
	b.Run(fmt.Sprintf("gateway-%d", callers), func(b *testing.B) {
		n := startNode(b)
		base := "http://" + n.GatewayAddr()
		write(b, base+"/store/Store/Write", testkit.AdminToken(b, hc, base))
	})
	b.Run(fmt.Sprintf("nethttp-tx-%d", callers), func(b *testing.B) {
		write(b, startSQLitePeer(b, false)+"/write", "")
	})
	b.Run(fmt.Sprintf("nethttp-batched-%d", callers), func(b *testing.B) {
		write(b, startSQLitePeer(b, true)+"/write", "")
	})
}

func b64(v []byte) string { return base64.StdEncoding.EncodeToString(v) }
