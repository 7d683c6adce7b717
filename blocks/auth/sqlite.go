package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"micro.dev/micro/schema"
)

// bootstrapKey is the auth_settings row that records the first start.
const bootstrapKey = "bootstrapped"

// defaultCheckSetting is the auth_settings row of Backend.DefaultChecked:
// "1 " or "0 " (default or not) followed by the secret hash.
const defaultCheckSetting = "default_check"

// sqliteBackend keeps the auth block's state in the micro SQLite file:
// queries on the read pool, every change through the group-commit writer.
type sqliteBackend struct {
	db *schema.DB
}

func newSQLite(db *schema.DB) *sqliteBackend { return &sqliteBackend{db: db} }

func (b *sqliteBackend) write(ctx context.Context, fn schema.TxFunc) error {
	return b.db.Write(ctx, fn)
}

func (b *sqliteBackend) Bootstrap(ctx context.Context, key Key, admin Account) (bool, error) {
	// Once bootstrapped, a start writes nothing: a server restarted with
	// its disk full comes up, so that deletes can make room.
	var v string
	switch err := b.db.Read().QueryRowContext(ctx, `SELECT value FROM auth_settings WHERE key = ?`, bootstrapKey).Scan(&v); {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	done := false
	err := b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var v string
		err := tx.QueryRowContext(ctx, `SELECT value FROM auth_settings WHERE key = ?`, bootstrapKey).Scan(&v)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := insertKey(ctx, tx, key); err != nil {
			return err
		}
		if err := insertAccount(ctx, tx, admin); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_settings (key, value) VALUES (?, ?)`,
			bootstrapKey, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

func (b *sqliteBackend) CreateAccount(ctx context.Context, acc Account) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertAccount(ctx, tx, acc)
	})
}

func insertAccount(ctx context.Context, tx *sql.Tx, acc Account) error {
	// An id or a name already taken in the namespace, either way round,
	// since login looks an account up by id and then by name.
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM auth_accounts
		WHERE namespace = ?1 AND (id = ?2 OR name = ?2 OR id = ?3 OR name = ?3)`,
		acc.Namespace, acc.ID, acc.Name).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return ErrExists
	}
	scopes, err := json.Marshal(nonNil(acc.Scopes))
	if err != nil {
		return err
	}
	meta, err := json.Marshal(nonNilMap(acc.Metadata))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO auth_accounts
		(namespace, id, uid, type, name, scopes, metadata, secret_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		acc.Namespace, acc.ID, acc.UID, acc.Type, acc.Name, string(scopes), string(meta), acc.SecretHash,
		acc.Created.Unix(), acc.Updated.Unix())
	return err
}

const accountColumns = `namespace, id, uid, type, name, scopes, metadata, secret_hash, created_at, updated_at`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var (
		a               Account
		scopes, meta    string
		created, update int64
	)
	if err := row.Scan(&a.Namespace, &a.ID, &a.UID, &a.Type, &a.Name, &scopes, &meta, &a.SecretHash, &created, &update); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Account{}, ErrNotFound
		}
		return Account{}, err
	}
	if err := json.Unmarshal([]byte(scopes), &a.Scopes); err != nil {
		return Account{}, err
	}
	if err := json.Unmarshal([]byte(meta), &a.Metadata); err != nil {
		return Account{}, err
	}
	a.Created, a.Updated = time.Unix(created, 0), time.Unix(update, 0)
	return a, nil
}

func (b *sqliteBackend) Account(ctx context.Context, ns, id string) (Account, error) {
	return scanAccount(b.db.Read().QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM auth_accounts WHERE namespace = ? AND id = ?`, ns, id))
}

func (b *sqliteBackend) AccountByName(ctx context.Context, ns, name string) (Account, error) {
	return scanAccount(b.db.Read().QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM auth_accounts WHERE namespace = ? AND name = ?`, ns, name))
}

func (b *sqliteBackend) Accounts(ctx context.Context, ns string) ([]Account, error) {
	rows, err := b.db.Read().QueryContext(ctx,
		`SELECT `+accountColumns+` FROM auth_accounts WHERE namespace = ? ORDER BY id`, ns)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) DeleteAccount(ctx context.Context, ns, id string) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Explicit rather than left to the foreign key, so the intent is
		// visible and does not hang on the foreign_keys pragma.
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_refresh_tokens WHERE namespace = ? AND account_id = ?`, ns, id); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM auth_accounts WHERE namespace = ? AND id = ?`, ns, id))
	})
}

func (b *sqliteBackend) SetSecret(ctx context.Context, ns, id, secretHash, uid string, now time.Time) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_refresh_tokens WHERE namespace = ? AND account_id = ?`, ns, id); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `UPDATE auth_accounts SET secret_hash = ?, uid = ?, updated_at = ?
			WHERE namespace = ? AND id = ?`, secretHash, uid, now.Unix(), ns, id))
	})
}

func (b *sqliteBackend) DefaultCheck(ctx context.Context) (string, bool, error) {
	var v string
	switch err := b.db.Read().QueryRowContext(ctx, `SELECT value FROM auth_settings WHERE key = ?`, defaultCheckSetting).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	verdict, hash, ok := strings.Cut(v, " ")
	if !ok || (verdict != "0" && verdict != "1") {
		return "", false, nil // not one this version wrote: checked again
	}
	return hash, verdict == "1", nil
}

func (b *sqliteBackend) DefaultChecked(ctx context.Context, hash string, isDefault bool) error {
	verdict := "0 "
	if isDefault {
		verdict = "1 "
	}
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_settings (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, defaultCheckSetting, verdict+hash)
		return err
	})
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (b *sqliteBackend) CreateRefresh(ctx context.Context, rt Refresh) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_refresh_tokens
			(hash, namespace, account_id, family, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			rt.Hash, rt.Namespace, rt.AccountID, rt.Family, rt.Created.Unix(), rt.Expires.Unix())
		if err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
			return ErrNotFound // the account was deleted meanwhile
		}
		return err
	})
}

func (b *sqliteBackend) UseRefresh(ctx context.Context, hash []byte, now time.Time) (Refresh, error) {
	var rt Refresh
	reused := false
	err := b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var (
			created, expires int64
			used             sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT namespace, account_id, family, created_at, expires_at, used_at
			FROM auth_refresh_tokens WHERE hash = ?`, hash).
			Scan(&rt.Namespace, &rt.AccountID, &rt.Family, &created, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rt.Hash, rt.Created, rt.Expires = hash, time.Unix(created, 0), time.Unix(expires, 0)
		if used.Valid {
			// Someone holds a copy of a token already exchanged: end the
			// whole session rather than guess which holder is genuine.
			_, err := tx.ExecContext(ctx, `DELETE FROM auth_refresh_tokens WHERE family = ?`, rt.Family)
			reused = true
			return err
		}
		if !now.Before(rt.Expires) {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE auth_refresh_tokens SET used_at = ? WHERE hash = ?`, now.Unix(), hash)
		return err
	})
	if err == nil && reused {
		err = ErrReused
	}
	return rt, err
}

func (b *sqliteBackend) Rules(ctx context.Context, ns string) ([]Rule, bool, error) {
	var one int
	err := b.db.Read().QueryRowContext(ctx, `SELECT 1 FROM auth_namespaces WHERE namespace = ?`, ns).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rows, err := b.db.Read().QueryContext(ctx, `SELECT id, scope, resource_type, resource_name, resource_endpoint, access, priority
		FROM auth_rules WHERE namespace = ? ORDER BY priority DESC, id`, ns)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	rules := []Rule{}
	for rows.Next() {
		var r Rule
		if err := rows.Scan(&r.ID, &r.Scope, &r.Resource.Type, &r.Resource.Name, &r.Resource.Endpoint, &r.Access, &r.Priority); err != nil {
			return nil, false, err
		}
		rules = append(rules, r)
	}
	return rules, true, rows.Err()
}

// ownRules makes sure ns has rules of its own, writing defaults if not.
func ownRules(ctx context.Context, tx *sql.Tx, ns string, defaults []Rule, now time.Time) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO auth_namespaces (namespace, created_at) VALUES (?, ?)
		ON CONFLICT (namespace) DO NOTHING`, ns, now.Unix())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	for _, r := range defaults {
		if err := insertRule(ctx, tx, ns, r, now); err != nil {
			return err
		}
	}
	return nil
}

func insertRule(ctx context.Context, tx *sql.Tx, ns string, r Rule, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_rules
		(namespace, id, scope, resource_type, resource_name, resource_endpoint, access, priority, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ns, r.ID, r.Scope, r.Resource.Type, r.Resource.Name, r.Resource.Endpoint, string(r.Access), r.Priority, now.Unix())
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return ErrExists
	}
	return err
}

func (b *sqliteBackend) CreateRule(ctx context.Context, ns string, r Rule, defaults []Rule, now time.Time) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := ownRules(ctx, tx, ns, defaults, now); err != nil {
			return err
		}
		return insertRule(ctx, tx, ns, r, now)
	})
}

func (b *sqliteBackend) DeleteRule(ctx context.Context, ns, id string, defaults []Rule, now time.Time) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := ownRules(ctx, tx, ns, defaults, now); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM auth_rules WHERE namespace = ? AND id = ?`, ns, id))
	})
}

func (b *sqliteBackend) Keys(ctx context.Context, ns string) ([]Key, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT id, private_key, created_at FROM auth_keys
		WHERE namespace = ? ORDER BY created_at DESC, id`, ns)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		k := Key{Namespace: ns}
		var created int64
		if err := rows.Scan(&k.ID, &k.Seed, &created); err != nil {
			return nil, err
		}
		k.Created = time.Unix(created, 0)
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (b *sqliteBackend) CreateKey(ctx context.Context, k Key) error {
	return b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertKey(ctx, tx, k)
	})
}

func insertKey(ctx context.Context, tx *sql.Tx, k Key) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_keys (namespace, id, private_key, created_at) VALUES (?, ?, ?, ?)`,
		k.Namespace, k.ID, k.Seed, k.Created.Unix())
	return err
}

func (b *sqliteBackend) Sweep(ctx context.Context, now, usedBefore time.Time) (int, error) {
	var n int64
	err := b.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_refresh_tokens WHERE expires_at <= ? OR used_at <= ?`,
			now.Unix(), usedBefore.Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
