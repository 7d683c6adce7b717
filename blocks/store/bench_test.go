package store

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/store"
)

// benchParallelism is goroutines per CPU in both write benchmarks, so the
// store and its baseline face the same number of concurrent writers.
const benchParallelism = 8

var benchValue = make([]byte, 100)

// BenchmarkWriteConcurrent measures Store.Write over a loopback gRPC
// connection from many goroutines: the writes share transactions (group
// commit), each acknowledged after its commit.
func BenchmarkWriteConcurrent(b *testing.B) {
	e := newEnv(b)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			key := "bench/" + strconv.FormatInt(seq.Add(1), 10)
			_, err := e.client.Write(b.Context(), &pb.WriteRequest{Record: &pb.Record{Key: key, Value: benchValue}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkRawSQLiteInsert is the baseline: one single-row INSERT
// transaction per write, on one database/sql connection with the same
// pragmas as schema (WAL, synchronous=FULL, busy_timeout), from as many
// goroutines as BenchmarkWriteConcurrent.
func BenchmarkRawSQLiteInsert(b *testing.B) {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(b.TempDir(), "raw.db"))}
	db, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// One connection, as micro has one writer: database/sql queues the
	// goroutines rather than SQLite's busy handler making them sleep.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE records (db TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL,
		expires_at INTEGER, revision INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (db, tbl, key)) STRICT`); err != nil {
		b.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != "2" {
		b.Fatalf("synchronous = %s (%v), want 2 (FULL)", mode, err)
	}
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if err := rawInsert(db, "bench/"+strconv.FormatInt(seq.Add(1), 10)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func rawInsert(db *sql.DB, key string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO records (db, tbl, key, expires_at, revision, value) VALUES (?, ?, ?, NULL, 1, ?)`,
		"micro", "micro", key, benchValue); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkBackend compares the two backends through the whole block
// (loopback gRPC, the block's checks): concurrent writes of new keys, and
// reads of one key. JetStream is one embedded server with the bucket at
// R1, on file storage; in a cluster each write also waits for a quorum of
// replicas.
func BenchmarkBackend(b *testing.B) {
	for _, be := range []struct {
		name string
		opts func(b *testing.B) []Option
	}{
		{"sqlite", func(*testing.B) []Option { return nil }},
		{"jetstream", func(b *testing.B) []Option {
			return []Option{WithJetStream(natstest.Connect(b, natstest.Server(b)), 1)}
		}},
	} {
		b.Run(be.name+"-write", func(b *testing.B) {
			e := newEnv(b, be.opts(b)...)
			var seq atomic.Int64
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					key := "bench/" + strconv.FormatInt(seq.Add(1), 10)
					if _, err := e.client.Write(b.Context(), &pb.WriteRequest{Record: &pb.Record{Key: key, Value: benchValue}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
		b.Run(be.name+"-read", func(b *testing.B) {
			e := newEnv(b, be.opts(b)...)
			e.write(b, b.Context(), "bench/read", string(benchValue), 0, nil)
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if _, err := e.client.Read(b.Context(), &pb.ReadRequest{Key: "bench/read"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
		})
	}
}
