package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"micro.dev/micro/internal/testca"
	"micro.dev/micro/internal/testkit"
)

// BenchmarkStoreWriteGateway writes store records through the gateway with
// parallel callers over plain HTTP (the baseline) and over HTTPS (TLS from
// a certificate file, HTTP/2), in the same run: the price of TLS on the
// write path. make bench prints the ratio.
func BenchmarkStoreWriteGateway(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ca := testca.New(b)
	caFile, certFile, keyFile := ca.WriteFiles(b, b.TempDir(), "127.0.0.1", "localhost")
	for _, c := range []struct {
		name      string
		cert, key string
	}{{"http", "", ""}, {"https", certFile, keyFile}} {
		b.Run(c.name, func(b *testing.B) {
			n, err := Start(context.Background(), Config{Data: filepath.Join(b.TempDir(), "micro.db"),
				GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", TLSCert: c.cert, TLSKey: c.key, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			transport := &http.Transport{MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true}
			if c.cert != "" {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(readFile(b, caFile))
				transport.TLSClientConfig = &tls.Config{RootCAs: pool}
			}
			client := &http.Client{Transport: transport}
			base := n.scheme() + n.GatewayAddr()
			token := testkit.AdminToken(b, client, base)
			var seq atomic.Int64
			// Many callers at once, as a server has: group commit shares
			// each fsync among them.
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := fmt.Sprintf(`{"record":{"key":"k%d","value":"dmFsdWU="}}`, seq.Add(1))
					req, _ := http.NewRequest("POST", base+"/store/Store/Write", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					rsp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, rsp.Body)
					rsp.Body.Close()
					if rsp.StatusCode/100 != 2 {
						b.Errorf("write: %s", rsp.Status)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

func readFile(b *testing.B, path string) []byte {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
