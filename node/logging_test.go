package node

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
)

// countingWriter counts what a logger writes and keeps the first lines.
type countingWriter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	w.mu.Lock()
	if len(w.first) < 20 {
		w.first = append(w.first, string(p))
	}
	w.mu.Unlock()
	return len(p), nil
}

// TestCallerMistakesDoNotFillTheLog makes 100,000 anonymous calls to a
// service that does not exist, half through the gateway and half through
// the proxy (in-process, so the test is quick), with the server logging at
// its default level: the log must stay under 1 MB. It used to get one WARN
// line per call.
func TestCallerMistakesDoNotFillTheLog(t *testing.T) {
	out := &countingWriter{}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	startBytes := out.n.Load()

	const calls, workers = 100_000, 4
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := w; i < calls; i += workers {
				if i%2 == 0 {
					req := httptest.NewRequest(http.MethodPost, "/nosuch/Foo/Bar", strings.NewReader(`{}`))
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					n.gateway.Handler.ServeHTTP(rec, req)
					if rec.Code < 400 {
						failures.Add(1)
					}
					continue
				}
				err := n.inproc.Invoke(t.Context(), "/nosuch.Foo/Bar", &codec.Frame{Data: []byte("{}")}, &codec.Frame{})
				if err == nil || errors.FromError(err, "").Code < 400 {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d calls to a missing service did not fail", f)
	}
	written := out.n.Load() - startBytes
	t.Logf("%d calls wrote %d bytes of log", calls, written)
	if written >= 1<<20 {
		out.mu.Lock()
		defer out.mu.Unlock()
		t.Fatalf("%d calls to a missing service wrote %d bytes of log (limit 1 MB); first lines:\n%s",
			calls, written, strings.Join(out.first, ""))
	}
}
