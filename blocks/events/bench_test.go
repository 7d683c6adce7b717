package events

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/events"
)

// benchParallelism is goroutines per CPU in both publish benchmarks, so the
// block and its baseline face the same number of concurrent writers.
const benchParallelism = 8

var benchPayload = make([]byte, 100)

// BenchmarkPublishConcurrent measures Stream.Publish over a loopback gRPC
// connection from many goroutines: publishes share transactions (group
// commit), each answered after its commit.
func BenchmarkPublishConcurrent(b *testing.B) {
	e := newEnv(b)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if _, err := e.stream.Publish(b.Context(), &pb.PublishRequest{Topic: "bench", Payload: benchPayload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawSQLiteInsert is the publish baseline: one single-row INSERT
// transaction per event, on one database/sql connection with the same
// pragmas as schema (WAL, synchronous=FULL), from as many goroutines.
func BenchmarkRawSQLiteInsert(b *testing.B) {
	db := rawDB(b)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if err := rawInsert(db, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkConsume measures one consumer receiving a topic's stored events
// over a loopback gRPC stream (auto ack), from the oldest on.
func BenchmarkConsume(b *testing.B) {
	benchConsume(b, &pb.ConsumeRequest{Topic: "bench", AutoAck: true})
}

// BenchmarkConsumeGroupAck measures a durable group whose consumer acks
// every event on the stream: each delivery and ack is saved.
func BenchmarkConsumeGroupAck(b *testing.B) {
	benchConsume(b, &pb.ConsumeRequest{Topic: "bench", Group: "g", AckWait: int64(time.Minute), RetryLimit: -1})
}

func benchConsume(b *testing.B, req *pb.ConsumeRequest) {
	e := newEnv(b)
	fill(b, e, b.N)
	b.ResetTimer()
	stream, err := e.stream.Consume(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if err := stream.Send(req); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if ev.Sequence != uint64(i+1) {
			b.Fatalf("got %d, want %d", ev.Sequence, i+1)
		}
		if !req.AutoAck {
			if err := stream.Send(&pb.ConsumeRequest{Ack: &pb.AckRequest{Id: ev.Id, Success: true}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawSQLiteRead is the consume baseline: reading the same rows
// straight from SQLite in batches of readBatch, in sequence order.
func BenchmarkRawSQLiteRead(b *testing.B) {
	db := rawDB(b)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, err := tx.Exec(`INSERT INTO events (topic_id, seq, id, published_at, timestamp, metadata, payload) VALUES (1, ?, 'id', 0, 0, '{}', ?)`,
			i+1, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	read := 0
	for read < b.N {
		rows, err := db.Query(`SELECT seq, id, published_at, timestamp, metadata, payload FROM events
			WHERE topic_id = 1 AND seq >= ? ORDER BY seq LIMIT ?`, read+1, readBatch)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var (
				seq, published, ts int64
				id, meta           string
				payload            []byte
			)
			if err := rows.Scan(&seq, &id, &published, &ts, &meta, &payload); err != nil {
				b.Fatal(err)
			}
			read++
		}
		rows.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// fill publishes n events to topic "bench" in large batches, untimed.
func fill(b *testing.B, e *env, n int) {
	const batch = 1000
	evs := make([]Event, 0, batch)
	for i := range n {
		evs = append(evs, Event{ID: uuid.NewString(), Payload: benchPayload})
		if len(evs) == batch || i == n-1 {
			if _, err := e.events.backend.Append(context.Background(), "micro", "bench", evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}

func rawDB(b *testing.B) *sql.DB {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(b.TempDir(), "raw.db"))}
	db, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	// One connection, as micro has one writer: database/sql queues the
	// goroutines rather than SQLite's busy handler making them sleep.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE events (topic_id INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
		published_at INTEGER NOT NULL, timestamp INTEGER NOT NULL, metadata TEXT NOT NULL, payload BLOB NOT NULL,
		PRIMARY KEY (topic_id, seq)) STRICT`); err != nil {
		b.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != "2" {
		b.Fatalf("synchronous = %s (%v), want 2 (FULL)", mode, err)
	}
	return db
}

func rawInsert(db *sql.DB, seq int64) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO events (topic_id, seq, id, published_at, timestamp, metadata, payload) VALUES (1, ?, 'id', 0, 0, '{}', ?)`,
		seq, benchPayload); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkPublishBackends compares the two backends in one run: the same
// concurrent Stream.Publish over loopback gRPC to one topic, on the SQLite
// file and on a single JetStream server (R1, file storage, on the same
// disk). Each publish is answered once stored (SQLite: committed, fsync'd;
// JetStream: acknowledged by the stream).
func BenchmarkPublishBackends(b *testing.B) {
	for _, backend := range []string{"sqlite", "jetstream"} {
		b.Run(backend, func(b *testing.B) {
			var opts []Option
			if backend == "jetstream" {
				opts = append(opts, WithJetStream(natstest.Connect(b, natstest.Server(b)), 1))
			}
			e := newEnv(b, opts...)
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if _, err := e.stream.Publish(b.Context(), &pb.PublishRequest{Topic: "bench", Payload: benchPayload}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
