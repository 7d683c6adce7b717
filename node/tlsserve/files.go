package tlsserve

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileCert serves a certificate and key read from files, and reads them
// again when either file changes or the process gets SIGHUP, so a renewed
// pair (certbot, a secrets mount) is served without a restart. A pair that
// does not load (half written, key and certificate not matching) is logged
// and the previous one is kept.
type fileCert struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	watcher *fsnotify.Watcher
	hup     chan os.Signal
	quit    chan struct{}
	done    sync.WaitGroup
}

// loadFiles reads the pair once, failing if it does not load, and starts
// watching for changes.
func loadFiles(certFile, keyFile string, log *slog.Logger) (*fileCert, error) {
	f := &fileCert{certFile: certFile, keyFile: keyFile, log: log, quit: make(chan struct{})}
	if err := f.load(); err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching the certificate files: %w", err)
	}
	// The directories, not the files: tools replace a certificate by
	// renaming a new file over it, which a watch on the old file misses.
	for _, dir := range dirsOf(certFile, keyFile) {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watching %s: %w", dir, err)
		}
	}
	f.watcher = w
	f.hup = make(chan os.Signal, 1)
	signal.Notify(f.hup, syscall.SIGHUP)
	f.done.Add(1)
	go f.loop()
	return f, nil
}

func dirsOf(files ...string) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, file := range files {
		dir := filepath.Dir(file)
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

func (f *fileCert) load() error {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s and --tls-key %s: %w", f.certFile, f.keyFile, err)
	}
	f.cert.Store(&cert)
	return nil
}

// reload loads the pair again, keeping the old one if that fails.
func (f *fileCert) reload(why string) {
	if err := f.load(); err != nil {
		f.log.Warn("TLS certificate not reloaded; still serving the previous one", "why", why, "err", err)
		return
	}
	if leaf := f.cert.Load().Leaf; leaf != nil {
		f.log.Info("TLS certificate reloaded", "why", why, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
}

// settle is how long the loop waits after a file event for the rest of a
// renewal (the other file, a rename) before reading the pair.
const settle = 100 * time.Millisecond

func (f *fileCert) loop() {
	defer f.done.Done()
	certAbs, _ := filepath.Abs(f.certFile)
	keyAbs, _ := filepath.Abs(f.keyFile)
	var pending <-chan time.Time
	for {
		select {
		case <-f.quit:
			return
		case <-f.hup:
			f.reload("SIGHUP")
		case ev, ok := <-f.watcher.Events:
			if !ok {
				return
			}
			if name, _ := filepath.Abs(ev.Name); name == certAbs || name == keyAbs {
				pending = time.After(settle)
			}
		case err, ok := <-f.watcher.Errors:
			if !ok {
				return
			}
			f.log.Warn("watching the TLS certificate files", "err", err)
		case <-pending:
			pending = nil
			f.reload("file changed")
		}
	}
}

func (f *fileCert) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert.Load(), nil
}

func (f *fileCert) close() {
	signal.Stop(f.hup)
	close(f.quit)
	f.watcher.Close()
	f.done.Wait()
}
