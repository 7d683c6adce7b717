package schema

import "context"

// ReadStrings runs a query whose rows are one text column on the read
// pool and returns the column's values in row order.
func (db *DB) ReadStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := db.Read().QueryContext(ctx, query, args...)
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
