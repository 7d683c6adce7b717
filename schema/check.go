package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Check verifies a micro database file that no server has open (a backup
// snapshot, a restored copy) without writing to it: the header must be
// micro's, PRAGMA integrity_check must answer ok, and the file must hold
// micro's schema table. It returns the schema version of each block.
func Check(ctx context.Context, path string) (versions map[string]int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cleanPathError(err)
	}
	fresh, err := checkHeader(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if fresh {
		return nil, errors.New("the file is empty, not a micro database")
	}
	// immutable: no locks and no -wal or -shm files beside it, so a check
	// leaves the directory as it was; nothing else has the file open.
	db, err := sql.Open("sqlite", dsn(path, "mode=ro&immutable=1&_pragma=query_only(1)"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("integrity_check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, fmt.Errorf("integrity_check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("integrity_check: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("integrity_check: %w", err)
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return nil, fmt.Errorf("integrity_check failed: %s", strings.Join(problems, "; "))
	}

	versions = map[string]int{}
	rows, err = db.QueryContext(ctx, "SELECT block, max(version) FROM schema_migrations GROUP BY block")
	if err != nil {
		return nil, fmt.Errorf("no micro schema in the file: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var block string
		var v int
		if err := rows.Scan(&block, &v); err != nil {
			return nil, err
		}
		versions[block] = v
	}
	return versions, rows.Err()
}

// Replace moves the checked file src to dest (on the same file system),
// replacing dest and any -wal and -shm files of it, which belong to the
// file being replaced and would corrupt the new one. A dest that a server
// has open is refused.
func Replace(src, dest string) error {
	if f, err := os.OpenFile(dest, os.O_RDWR, 0); err == nil {
		err := lockFile(f)
		if err != nil {
			f.Close()
			if errors.Is(err, ErrInUse) {
				return fmt.Errorf("%s is %w; stop it first", dest, ErrInUse)
			}
			return fmt.Errorf("%s: %w", dest, err)
		}
		// Held until the rename is done, so no server starts on the old
		// file in between.
		defer f.Close()
		defer unlockFile(f)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dest + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(src, dest); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(dest)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// Idle reports whether the micro database file at path is whole on its
// own, so that copying it copies the database: no server has it open
// (ErrInUse), and no write-ahead log beside it holds writes the file does
// not (a server that did not stop cleanly leaves one; the next open folds
// it in). It writes nothing.
func Idle(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return cleanPathError(err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		if errors.Is(err, ErrInUse) {
			return fmt.Errorf("%s is %w; stop it first", path, ErrInUse)
		}
		return err
	}
	defer unlockFile(f)
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s has a write-ahead log beside it (%s-wal) holding writes not yet in the file: the server that had it open did not stop cleanly; start it and stop it once (micro server --data %s), then try again", path, path, path)
	}
	return nil
}
