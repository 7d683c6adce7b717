package schema

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestObserveBatches: Options.Observe hears of every transaction, before
// its callers are answered: how many writes it grouped, how long each
// queued, how long it took, and whether it rolled back as a whole.
func TestObserveBatches(t *testing.T) {
	var mu sync.Mutex
	var batches []WriteBatch
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"), Options{
		Migrations: testMigrations,
		Observe: func(b WriteBatch) {
			mu.Lock()
			defer mu.Unlock()
			b.Waits = append([]time.Duration(nil), b.Waits...) // reused by the writer
			batches = append(batches, b)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := func() []WriteBatch {
		mu.Lock()
		defer mu.Unlock()
		return append([]WriteBatch(nil), batches...)
	}

	// One write: counted by the time Write returns.
	put(t, db, "a", "1")
	if b := seen(); len(b) != 1 || b[0].Writes != 1 || len(b[0].Waits) != 1 || b[0].Commit <= 0 || b[0].Err != nil {
		t.Fatalf("after one write: %+v", b)
	}

	// Writes queued behind a busy writer share the next transaction: hold
	// the writer in one write until the others are queued.
	const queued = 5
	hold, holding := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(holding)
			<-hold
			return nil
		})
	})
	<-holding
	for i := range queued {
		wg.Go(func() {
			err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, 'x')`, "q"+string(rune('0'+i)))
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(db.w.reqs) < queued {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes queued", len(db.w.reqs))
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	b := seen()
	if len(b) != 3 || b[1].Writes != 1 || b[2].Writes != queued || len(b[2].Waits) != queued {
		t.Fatalf("batches: %+v", b)
	}
	for _, w := range b[2].Waits {
		// They queued while the first write was held.
		if w <= 0 {
			t.Fatalf("queued writes report waits %v", b[2].Waits)
		}
	}

	// A lone write that fails rolls its transaction back.
	boom := errors.New("boom")
	if err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing write: %v", err)
	}
	if b := seen(); len(b) != 4 || b[3].Writes != 1 || !errors.Is(b[3].Err, boom) {
		t.Fatalf("after a failing write: %+v", b[len(b)-1])
	}
}
