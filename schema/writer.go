package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned for writes submitted after Close.
var ErrClosed = errors.New("database is closed")

// TxFunc is one unit of work in a write transaction. It must do only
// database work: it runs on the single writer, inside a transaction shared
// with other callers' work.
type TxFunc func(ctx context.Context, tx *sql.Tx) error

type writeReq struct {
	ctx    context.Context
	fn     TxFunc
	done   chan error
	queued time.Time // when Write queued it; set only for Options.Observe
}

// WriteBatch describes one transaction of the writer, for metrics
// (Options.Observe).
type WriteBatch struct {
	// Writes is how many Write calls shared the transaction.
	Writes int
	// Waits holds how long each of those calls waited in the queue before
	// the transaction began. The slice is reused: it is valid only during
	// the call to Observe.
	Waits []time.Duration
	// Commit is how long the transaction took, from BEGIN to the end of
	// COMMIT (or of the rollback).
	Commit time.Duration
	// Err is why the transaction rolled back as a whole; nil when it
	// committed (a call whose own work failed inside a shared transaction
	// rolls back only its savepoint, and the rest commits).
	Err error
}

// writer owns the one write connection. Requests that arrive while a
// transaction is committing wait, and then go together into the next one:
// one fsync acknowledges them all (group commit). Each request runs inside
// its own savepoint, so one caller's failure rolls back only its own work.
type writer struct {
	db       *sql.DB
	reqs     chan *writeReq
	maxBatch int
	quit     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once

	observe func(WriteBatch)
	waits   []time.Duration // reused for each WriteBatch
	space   *space
}

func startWriter(db *sql.DB, maxBatch int, observe func(WriteBatch), sp *space) *writer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	if sp == nil {
		sp = &space{}
	}
	w := &writer{db: db, reqs: make(chan *writeReq, maxBatch*4), maxBatch: maxBatch, quit: make(chan struct{}), observe: observe, space: sp}
	w.wg.Add(1)
	go w.loop()
	return w
}

// Write runs fn in a write transaction and returns once that transaction has
// committed (or failed). Concurrent calls share transactions.
func (db *DB) Write(ctx context.Context, fn TxFunc) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if db.w.observe != nil {
		req.queued = time.Now()
	}
	select {
	case <-db.w.quit:
		return ErrClosed
	default:
	}
	select {
	case db.w.reqs <- req:
	case <-db.w.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the caller waits for the outcome even if ctx ends: an
	// answer must never claim failure for work that then commits.
	return <-req.done
}

func (w *writer) stop() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*writeReq, 0, w.maxBatch)
	for {
		select {
		case req := <-w.reqs:
			batch = append(batch[:0], req)
		case <-w.quit:
			// Finish what was queued before the stop.
			for {
				select {
				case req := <-w.reqs:
					w.commit([]*writeReq{req})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < w.maxBatch {
			select {
			case req := <-w.reqs:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

func (w *writer) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	var began time.Time
	if w.observe != nil {
		began = time.Now()
	}
	err := diskFull(w.run(batch, results))
	if w.observe != nil {
		w.report(batch, began, err)
	}
	// The space note is taken before any caller is answered, so a caller
	// that asks Health after its write sees what that write found.
	outcome := err
	for i := range batch {
		if err != nil {
			break
		}
		results[i] = diskFull(results[i])
		if errors.Is(results[i], ErrDiskFull) {
			outcome = results[i]
		}
	}
	w.space.note(outcome)
	for i, req := range batch {
		if err != nil {
			req.done <- err
			continue
		}
		req.done <- results[i]
	}
}

// report tells Options.Observe about a batch that began at began. It runs
// before the callers are answered, so a caller whose Write returned finds
// its transaction already counted.
func (w *writer) report(batch []*writeReq, began time.Time, err error) {
	took := time.Since(began)
	w.waits = w.waits[:0]
	for _, req := range batch {
		w.waits = append(w.waits, max(0, began.Sub(req.queued)))
	}
	w.observe(WriteBatch{Writes: len(batch), Waits: w.waits, Commit: took, Err: err})
}

// run executes the batch in one transaction; results get each request's own
// error, the return value an error that fails the whole batch.
func (w *writer) run(batch []*writeReq, results []error) (err error) {
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	single := len(batch) == 1
	low := w.space.low()
	for i, req := range batch {
		if cerr := req.ctx.Err(); cerr != nil {
			results[i] = cerr
			continue
		}
		if low != nil && !isFreeing(req.ctx) {
			results[i] = low
			continue
		}
		if single {
			results[i] = safeCall(req, tx)
			if results[i] != nil {
				tx.Rollback()
				return results[i]
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			return err
		}
		results[i] = safeCall(req, tx)
		if results[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				// SQLite may have rolled back the whole transaction
				// (on SQLITE_FULL it can): keep the cause.
				return errors.Join(results[i], err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// safeCall runs a request's function; a panic in it fails that request only.
//
// The function's statements run under its caller's context without its
// cancellation (run checks it just before): a caller giving up mid-way
// would have the driver call sqlite3_interrupt, which rolls back the whole
// transaction, every other caller's work in the batch with it. And a
// context that can end costs a watching goroutine per statement in
// database/sql and the driver, a tenth of a span insert's CPU.
func safeCall(req *writeReq, tx *sql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write panicked: %v", r)
		}
	}()
	return req.fn(context.WithoutCancel(req.ctx), tx)
}

// Prepare returns query prepared once on the writer connection, for use
// inside a TxFunc as tx.StmtContext(ctx, stmt): the single writer is every
// block's critical path, and parsing the same SQL on each write showed as a
// third of its time. Call it outside Write (it needs the writer connection
// while no batch holds it); statements are cached per query and closed with
// the database.
func (db *DB) Prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if stmt, ok := db.stmts[query]; ok {
		return stmt, nil
	}
	if db.stmts == nil {
		return nil, ErrClosed
	}
	stmt, err := db.writer.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.stmts[query] = stmt
	return stmt, nil
}
