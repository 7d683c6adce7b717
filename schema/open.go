// Package schema is the one way to open micro's database: a single SQLite
// file holding every block's state.
//
// Open checks the file before SQLite touches it, takes an exclusive lock so
// that a second server on the same file is refused, applies the pragmas, runs
// every block's embedded migrations in one transaction, and starts the
// writer that groups concurrent writes into one transaction (group commit).
package schema

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// ApplicationID marks a SQLite file as a micro database (the bytes "micr" in
// the header's application_id field).
const ApplicationID = 0x6D696372

// Synchronous is FULL: a transaction is on disk when its commit returns, so an
// acknowledged write survives a power cut as well as kill -9. Group commit
// spreads the fsync over every write waiting in the batch, which is what makes
// FULL affordable.
const Synchronous = "FULL"

// busyTimeout bounds how long a connection waits for a lock held by another
// connection of this process (the checkpointer, a backup) before SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// ErrInUse is returned when another process is serving the file.
var ErrInUse = errors.New("in use by another running micro server")

// Options configure Open.
type Options struct {
	// Migrations are the blocks' schemas, applied in order.
	Migrations []Migrations
	// Readers is the size of the read pool; 0 means one per CPU, at least 2.
	Readers int
	// MaxBatch caps how many writes share one transaction; 0 means 256.
	MaxBatch int
	// MinFreeSpace is the free space, in bytes, under which writes are
	// refused with ErrDiskFull before SQLite fails on a full disk; deletes
	// (Freeing) still run, in the room it keeps. Zero means no minimum.
	MinFreeSpace int64
	// MaxSize caps the database file, in bytes (SQLite's max_page_count):
	// past it writes fail with ErrDiskFull as on a full disk. Zero means
	// no cap.
	MaxSize int64
	// Observe, when set, is told of every transaction the writer runs,
	// before its callers get their answers (the node's metrics). It runs
	// on the writer's goroutine, so it must be quick and must not write.
	Observe func(WriteBatch)
}

// DB is an open micro database.
type DB struct {
	path   string
	lock   *os.File
	writer *sql.DB
	reader *sql.DB
	w      *writer
	space  *space // space.go

	stmtMu    sync.Mutex
	stmts     map[string]*sql.Stmt // Prepare's, on the writer
	readMu    sync.Mutex
	readStmts map[string]*sql.Stmt // QueryRead's, on the read pool
}

// Open opens (creating if absent) the micro database at path.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("database %s is a directory; give a file path such as %s", path, filepath.Join(path, "micro.db"))
	}
	lock, fresh, err := lockAndCheck(abs)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db := &DB{path: abs, lock: lock}
	if err := db.open(ctx, fresh, opts); err != nil {
		db.closeAll()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}

// lockAndCheck opens the file, takes the exclusive process lock and checks the
// header, all without writing to the file. fresh reports an empty file.
func lockAndCheck(path string) (lock *os.File, fresh bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, cleanPathError(err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, false, err
	}
	fresh, err = checkHeader(f)
	if err != nil {
		unlockFile(f)
		f.Close()
		return nil, false, err
	}
	return f, fresh, nil
}

func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkHeader reads the SQLite header (https://sqlite.org/fileformat.html):
// 16 magic bytes, and the application_id at offset 68.
func checkHeader(f *os.File) (fresh bool, err error) {
	var hdr [100]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return true, nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return false, err
	case n < len(hdr) || string(hdr[:16]) != "SQLite format 3\x00":
		return false, errors.New("not a SQLite database; refusing to touch it (is --data pointing at the right file?)")
	}
	if id := binary.BigEndian.Uint32(hdr[68:72]); id != ApplicationID {
		return false, errors.New("a SQLite database that micro did not create; refusing to touch it")
	}
	return false, nil
}

func dsn(path string, params string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return u.String() + "?" + params
}

func (db *DB) open(ctx context.Context, fresh bool, opts Options) error {
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(%s)",
		busyTimeout.Milliseconds(), Synchronous)
	var err error
	db.writer, err = sql.Open("sqlite", dsn(db.path, common+"&_txlock=immediate"))
	if err != nil {
		return err
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)

	if fresh {
		// The id goes in while the file is still in rollback-journal mode, so
		// it lands in the main file's header at once, never only in a WAL.
		if _, err := db.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return err
		}
	}
	var mode string
	if err := db.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("cannot switch to WAL mode (got %q); is the file on a network file system?", mode)
	}
	if err := db.verifyPragmas(ctx, db.writer); err != nil {
		return err
	}
	if opts.MaxSize > 0 {
		var pageSize int64
		if err := db.writer.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
			return err
		}
		// The one writer connection keeps the pragma for the file's life.
		if _, err := db.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", max(opts.MaxSize/pageSize, 1))); err != nil {
			return err
		}
	}
	db.space = &space{dir: filepath.Dir(db.path), minFree: opts.MinFreeSpace}

	readers := opts.Readers
	if readers <= 0 {
		readers = max(2, runtime.NumCPU())
	}
	db.reader, err = sql.Open("sqlite", dsn(db.path, common+"&_pragma=query_only(1)"))
	if err != nil {
		return err
	}
	db.reader.SetMaxOpenConns(readers)
	db.reader.SetMaxIdleConns(readers)
	if err := db.verifyPragmas(ctx, db.reader); err != nil {
		return err
	}

	if err := migrate(ctx, db.writer, opts.Migrations); err != nil {
		return err
	}
	db.stmts = map[string]*sql.Stmt{}
	db.readStmts = map[string]*sql.Stmt{}
	db.w = startWriter(db.writer, opts.MaxBatch, opts.Observe, db.space)
	return nil
}

// verifyPragmas checks that the DSN's pragmas took: the driver silently
// ignores keys it does not know.
func (db *DB) verifyPragmas(ctx context.Context, pool *sql.DB) error {
	var timeout, fk int
	var sync int
	if err := pool.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
		return err
	}
	if err := pool.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if err := pool.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return err
	}
	if timeout != int(busyTimeout.Milliseconds()) || fk != 1 || sync != 2 {
		return fmt.Errorf("pragmas did not apply (busy_timeout=%d foreign_keys=%d synchronous=%d)", timeout, fk, sync)
	}
	return nil
}

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Read is the pool for queries. Its connections refuse writes.
func (db *DB) Read() *sql.DB { return db.reader }

// Close stops the writer after the writes already queued, checkpoints the WAL
// into the main file and truncates it, so the file alone is a complete copy,
// then releases the lock.
func (db *DB) Close() error {
	var errs []error
	if db.w != nil {
		db.w.stop()
	}
	db.readMu.Lock()
	for _, stmt := range db.readStmts {
		stmt.Close()
	}
	db.readStmts = nil
	db.readMu.Unlock()
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
		db.reader = nil
	}
	db.stmtMu.Lock()
	for _, stmt := range db.stmts {
		stmt.Close()
	}
	db.stmts = nil
	db.stmtMu.Unlock()
	if db.writer != nil {
		// On a full disk the checkpoint may fail: the WAL then stays
		// beside the file, complete, and the next open replays it. The
		// error says so (ErrDiskFull); nothing is lost.
		if _, err := db.writer.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint (the WAL is kept and replayed at the next start): %w", diskFull(err)))
		}
	}
	db.closeAll()
	return errors.Join(errs...)
}

func (db *DB) closeAll() {
	if db.reader != nil {
		db.reader.Close()
	}
	if db.writer != nil {
		// Closing the last connection of a WAL database checkpoints and
		// removes the -wal and -shm files.
		db.writer.Close()
	}
	if db.lock != nil {
		// The lock's descriptor is closed only now: closing any descriptor
		// of the file would drop SQLite's own POSIX locks while it is open.
		unlockFile(db.lock)
		db.lock.Close()
		db.lock = nil
	}
}

// Backup writes a consistent copy of the database to dest while writers go on
// (VACUUM INTO reads one snapshot). dest must not exist. The copy is not
// synced to disk: callers read it back (to stream, to compress) or sync it.
func (db *DB) Backup(ctx context.Context, dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err == nil {
		return fmt.Errorf("%s already exists; choose a new file name", dest)
	}
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// VACUUM INTO is a read of the source; query_only forbids it nonetheless.
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), "PRAGMA query_only = 1")
	// VACUUM INTO syncs its output as the source's synchronous setting
	// says; syncing a whole copy at once holds the writer's next commit
	// behind it in the file system's journal for as long as that takes.
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), "PRAGMA synchronous = "+Synchronous)
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	return nil
}
