package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// sqlitePeer is the smallest honest server a user could write instead: a
// net/http handler reading and writing one SQLite table with micro's
// pragmas (WAL, synchronous=FULL, busy_timeout, one writer connection and a
// pool of query-only readers), JSON in and out. With batched set, writes
// arriving together share one transaction (group commit, as micro's store
// does); otherwise each write is its own transaction.
type sqlitePeer struct {
	writer, reader *sql.DB
	batched        bool
	queue          chan write
}

type write struct {
	key   string
	value []byte
	done  chan error
}

const peerPragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"

// startSQLitePeer serves the peer on a loopback port and returns its base
// URL; it stops with b.
func startSQLitePeer(b *testing.B, batched bool) string {
	b.Helper()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(b.TempDir(), "peer.db"))}
	p := &sqlitePeer{batched: batched, queue: make(chan write, 1024)}
	var err error
	if p.writer, err = sql.Open("sqlite", u.String()+"?"+peerPragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate"); err != nil {
		b.Fatal(err)
	}
	p.writer.SetMaxOpenConns(1)
	if _, err := p.writer.Exec(`CREATE TABLE records (key TEXT PRIMARY KEY, revision INTEGER NOT NULL,
		updated_at INTEGER NOT NULL, value BLOB NOT NULL) STRICT`); err != nil {
		b.Fatal(err)
	}
	var sync int
	if err := p.writer.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		b.Fatalf("synchronous = %d (%v), want 2 (FULL)", sync, err)
	}
	if p.reader, err = sql.Open("sqlite", u.String()+"?"+peerPragmas+"&_pragma=query_only(1)"); err != nil {
		b.Fatal(err)
	}
	p.reader.SetMaxOpenConns(2)
	stop := make(chan struct{})
	if batched {
		go p.commitLoop(stop)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /read", p.read)
	mux.HandleFunc("POST /write", p.write)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	b.Cleanup(func() {
		srv.Close()
		close(stop)
		p.writer.Close()
		p.reader.Close()
	})
	return "http://" + lis.Addr().String()
}

type record struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

func (p *sqlitePeer) read(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var rec record
	err := p.reader.QueryRowContext(r.Context(), `SELECT key, value FROM records WHERE key = ?`, req.Key).Scan(&rec.Key, &rec.Value)
	if err == sql.ErrNoRows {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string][]record{"records": {rec}})
}

func (p *sqlitePeer) write(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Record record `json:"record"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Record.Key == "" {
		http.Error(w, "want {\"record\":{\"key\":...}}", http.StatusBadRequest)
		return
	}
	var err error
	if p.batched {
		done := make(chan error, 1)
		p.queue <- write{req.Record.Key, req.Record.Value, done}
		err = <-done
	} else {
		err = p.commit(r.Context(), []write{{key: req.Record.Key, value: req.Record.Value}})
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("{}"))
}

// commitLoop takes the writes queued while the last commit ran and
// commits them in one transaction, answering each after the commit.
func (p *sqlitePeer) commitLoop(stop chan struct{}) {
	for {
		var batch []write
		select {
		case <-stop:
			return
		case w := <-p.queue:
			batch = append(batch, w)
		}
	more:
		for len(batch) < 256 {
			select {
			case w := <-p.queue:
				batch = append(batch, w)
			default:
				break more
			}
		}
		err := p.commit(context.Background(), batch)
		for _, w := range batch {
			w.done <- err
		}
	}
}

func (p *sqlitePeer) commit(ctx context.Context, batch []write) error {
	tx, err := p.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	for _, w := range batch {
		if _, err := tx.ExecContext(ctx, `INSERT INTO records (key, revision, updated_at, value) VALUES (?, 1, ?, ?)
			ON CONFLICT (key) DO UPDATE SET revision = revision + 1, updated_at = excluded.updated_at, value = excluded.value`,
			w.key, now, w.value); err != nil {
			return err
		}
	}
	return tx.Commit()
}
