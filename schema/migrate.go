package schema

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are one block's schema: files named NNN_description.sql in FS,
// applied in number order, each once. A block owns its tables; its
// migrations are the only place they are created or changed.
type Migrations struct {
	// Block names the owner, e.g. "store".
	Block string
	// FS holds the .sql files at its root.
	FS fs.FS
}

type migration struct {
	version int
	name    string
	sql     string
}

func (m Migrations) load() ([]migration, error) {
	entries, err := fs.ReadDir(m.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", m.Block, err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s migration %s: name must be NNN_description.sql", m.Block, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("%s migrations %s and %s share version %d", m.Block, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(m.FS, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies every pending migration in one transaction. A database
// that has a migration this binary does not know is from a newer micro: it is
// refused before anything is written.
func migrate(ctx context.Context, db *sql.DB, sets []Migrations) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		block      TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL DEFAULT (unixepoch()),
		PRIMARY KEY (block, version)
	) STRICT`); err != nil {
		return err
	}
	applied := map[string]int{}
	rows, err := tx.QueryContext(ctx, `SELECT block, max(version) FROM schema_migrations GROUP BY block`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var block string
		var v int
		if err := rows.Scan(&block, &v); err != nil {
			rows.Close()
			return err
		}
		applied[block] = v
	}
	if err := rows.Close(); err != nil {
		return err
	}

	loaded := make([][]migration, len(sets))
	known := map[string]bool{}
	for i, set := range sets {
		ms, err := set.load()
		if err != nil {
			return err
		}
		loaded[i] = ms
		known[set.Block] = true
		latest := 0
		if len(ms) > 0 {
			latest = ms[len(ms)-1].version
		}
		if applied[set.Block] > latest {
			return fmt.Errorf("the %s schema is at version %d but this micro knows only up to %d: the file was written by a newer micro; upgrade micro to open it", set.Block, applied[set.Block], latest)
		}
	}
	for block, v := range applied {
		if !known[block] {
			return fmt.Errorf("the file has a %q schema (version %d) that this micro does not know: it was written by a newer micro; upgrade micro to open it", block, v)
		}
	}
	for i, set := range sets {
		for _, m := range loaded[i] {
			if m.version <= applied[set.Block] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("%s migration %s: %w", set.Block, m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (block, version, name) VALUES (?, ?, ?)`, set.Block, m.version, m.name); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// Embedded returns block's migrations from the "migrations" directory of
// fsys, as a block embeds them (//go:embed migrations/*.sql).
func Embedded(block string, fsys fs.FS) Migrations {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		panic(err) // only for an invalid path, and "migrations" is valid
	}
	return Migrations{Block: block, FS: sub}
}
