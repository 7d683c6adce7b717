package runtime

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// flushInterval is how often buffered log lines are written; a burst of
// flushBatch lines is written at once.
const (
	flushInterval = 100 * time.Millisecond
	flushBatch    = 512
)

// logWriter buffers the log lines of every service and writes them in
// batches, one transaction per service per flush, so a service flooding
// stdout costs the database a few writes a second. A service's buffer holds
// at most what the cap keeps (lines and bytes): beyond that the oldest are
// dropped (the table would drop them anyway) and a note says how many.
type logWriter struct {
	backend Backend
	limit   LogCap
	log     *slog.Logger

	mu      sync.Mutex
	pending map[Key]*pendingLines
	gone    map[Key]bool // services being deleted: their lines are dropped
	waiters map[Key]chan struct{}
	kick    chan struct{}

	// flushing is held while a flush writes, so a delete can wait for it.
	flushing sync.Mutex
}

type pendingLines struct {
	lines   []LogLine
	size    int64 // of lines, as LogCap.Bytes counts
	dropped int
}

func newLogWriter(b Backend, limit LogCap, log *slog.Logger) *logWriter {
	return &logWriter{
		backend: b, limit: limit, log: log,
		pending: map[Key]*pendingLines{},
		gone:    map[Key]bool{},
		waiters: map[Key]chan struct{}{},
		kick:    make(chan struct{}, 1),
	}
}

// add buffers one line of k's logs.
func (w *logWriter) add(k Key, l LogLine) {
	w.mu.Lock()
	if w.gone[k] {
		w.mu.Unlock()
		return
	}
	p := w.pending[k]
	if p == nil {
		p = &pendingLines{}
		w.pending[k] = p
	}
	p.lines = append(p.lines, l)
	p.size += l.size()
	n := 0
	for len(p.lines)-n > w.limit.Lines || (w.limit.Bytes > 0 && p.size > w.limit.Bytes && len(p.lines)-n > 1) {
		p.size -= p.lines[n].size()
		n++
	}
	if n > 0 {
		p.lines = append(p.lines[:0], p.lines[n:]...)
		p.dropped += n
	}
	full := len(p.lines) >= flushBatch
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// note adds a line from the runtime itself to k's logs.
func (w *logWriter) note(k Key, instance, msg string) {
	w.add(k, LogLine{Time: time.Now(), Stream: StreamRuntime, Instance: instance, Message: msg})
}

// run flushes until ctx ends, then once more.
func (w *logWriter) run(ctx context.Context) {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.flush(context.Background())
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush(ctx)
	}
}

// flush writes every buffered line and wakes the followers of the services
// that got lines.
func (w *logWriter) flush(ctx context.Context) {
	w.flushing.Lock()
	defer w.flushing.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = map[Key]*pendingLines{}
	w.mu.Unlock()
	for k, p := range batch {
		lines := p.lines
		if p.dropped > 0 {
			if len(lines) >= w.limit.Lines { // room for the note within the cap
				p.dropped += len(lines) - w.limit.Lines + 1
				lines = lines[len(lines)-w.limit.Lines+1:]
			}
			lines = append([]LogLine{{Time: time.Now(), Stream: StreamRuntime,
				Message: "[runtime] output too fast: " + strconv.Itoa(p.dropped) + " lines dropped"}}, lines...)
		}
		if err := w.backend.AppendLogs(ctx, k, lines, w.limit); err != nil && ctx.Err() == nil {
			w.log.Warn("runtime: writing logs failed", "service", k.String(), "err", err)
		}
		w.mu.Lock()
		if ch, ok := w.waiters[k]; ok {
			close(ch)
			delete(w.waiters, k)
		}
		w.mu.Unlock()
	}
}

// changed returns a channel closed the next time lines of k are written.
func (w *logWriter) changed(k Key) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.waiters[k]
	if !ok {
		ch = make(chan struct{})
		w.waiters[k] = ch
	}
	return ch
}

// forget drops k's buffered and future lines and runs del once no flush is
// writing, so that no line of k is written after del. resume undoes it.
func (w *logWriter) forget(k Key, del func() error) error {
	w.mu.Lock()
	w.gone[k] = true
	delete(w.pending, k)
	w.mu.Unlock()
	w.flushing.Lock()
	defer w.flushing.Unlock()
	return del()
}

// resume accepts lines of k again (a service created anew).
func (w *logWriter) resume(k Key) {
	w.mu.Lock()
	delete(w.gone, k)
	w.mu.Unlock()
}

// capture reads lines from rd into k's logs until EOF, cutting lines longer
// than maxLine bytes and replacing invalid UTF-8.
func (w *logWriter) capture(k Key, instance, stream string, rd io.Reader, maxLine int) {
	br := bufio.NewReaderSize(rd, 64<<10)
	for {
		line, err := readLine(br, maxLine)
		if len(line) > 0 || err == nil {
			w.add(k, LogLine{Time: time.Now(), Stream: stream, Instance: instance, Message: line})
		}
		if err != nil {
			return
		}
	}
}

// readLine returns the next line without its newline, cut to max bytes
// (the rest of a long line is read and discarded).
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(buf) < max {
			buf = append(buf, chunk[:min(len(chunk), max-len(buf))]...)
		}
		if err != nil {
			return clean(buf), err
		}
		if !isPrefix {
			return clean(buf), nil
		}
	}
}

func clean(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b))) // invalid bytes become U+FFFD
}
