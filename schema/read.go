package schema

import (
	"context"
	"database/sql"
)

// maxReadStmts bounds the read statements kept prepared; queries of
// varying text past it (IN lists of every length) run unprepared.
const maxReadStmts = 256

// QueryRead runs query on the read pool through a statement prepared once
// for the query (and once on each connection, when that connection first
// runs it): parsing the SQL again on every store read was half its CPU.
// The query's values must be parameters: its text is the cache key.
func (db *DB) QueryRead(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if stmt == nil {
		return db.reader.QueryContext(ctx, query, args...)
	}
	return stmt.QueryContext(ctx, args...)
}

// readStmt returns query's statement on the read pool, preparing it the
// first time; nil when the cache is full.
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	db.readMu.Lock()
	defer db.readMu.Unlock()
	if stmt, ok := db.readStmts[query]; ok {
		return stmt, nil
	}
	switch {
	case db.readStmts == nil:
		return nil, ErrClosed
	case len(db.readStmts) >= maxReadStmts:
		return nil, nil
	}
	stmt, err := db.reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.readStmts[query] = stmt
	return stmt, nil
}

// ReadStrings runs a query whose rows are one text column on the read
// pool and returns the column's values in row order.
func (db *DB) ReadStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := db.QueryRead(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
