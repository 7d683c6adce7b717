package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/schema"
)

// Held says what auth holds on JetStream, "" when nothing but what a first
// start made (the signing key and the default admin, its password never
// changed): what an import into it would merge with.
func (a *Auth) Held(ctx context.Context) (string, error) {
	b, ok := a.backend.(*jsBackend)
	if !ok {
		return "", errors.New("auth: not on JetStream")
	}
	if _, err := b.bucket(ctx); err != nil {
		return "", err
	}
	accKeys, err := jsstorage.Keys(ctx, b.js, Bucket, "acc.*")
	if err != nil {
		return "", jsstorage.Unavailable(errID, err)
	}
	ruleKeys, err := jsstorage.Keys(ctx, b.js, Bucket, "rules.*")
	if err != nil {
		return "", jsstorage.Unavailable(errID, err)
	}
	accs, rules := 0, 0
	for _, k := range accKeys {
		var v accounts
		if _, err := b.get(ctx, k, &v); err != nil {
			return "", err
		}
		for _, acc := range v {
			if !firstAdmin(acc) {
				accs++
			}
		}
	}
	for _, k := range ruleKeys {
		var v rulesValue
		if at, err := b.get(ctx, k, &v); err != nil {
			return "", err
		} else if at != 0 {
			rules++
		}
	}
	if accs == 0 && rules == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d accounts, rules of their own in %d namespaces", accs, rules), nil
}

// firstAdmin is the default admin as the first start made it: its
// password never changed since.
func firstAdmin(acc Account) bool {
	return acc.Namespace == metadata.DefaultNamespace && acc.ID == AdminID && acc.Created.Equal(acc.Updated)
}

// Import copies the auth state of an appliance's file from (opened with
// Migrations) into auth on JetStream, namespace by namespace: accounts
// with their password hashes and uids (so logins, and the credentials of
// service accounts, go on working), the rules of namespaces that have
// their own, and the signing keys, added beside the cluster's so tokens
// the appliance issued verify until they expire. What the cluster already
// has is kept: an account whose id or name it holds, the rules of a
// namespace with rules of its own (counted in kept). The exception is the
// default admin the cluster's first start made, its password never
// changed: the file's admin replaces it. Refresh tokens are not carried:
// a session that was logged in logs in again.
func (a *Auth) Import(ctx context.Context, from *schema.DB) (copied, kept int, err error) {
	dest, ok := a.backend.(*jsBackend)
	if !ok {
		return 0, 0, errors.New("auth: not on JetStream")
	}
	src := newSQLite(from)
	namespaces, err := from.ReadStrings(ctx, `SELECT namespace FROM auth_accounts UNION SELECT namespace FROM auth_namespaces
		UNION SELECT namespace FROM auth_keys ORDER BY 1`)
	if err != nil {
		return 0, 0, err
	}
	for _, ns := range namespaces {
		keys, err := src.Keys(ctx, ns)
		if err != nil {
			return copied, kept, err
		}
		if err := update(ctx, dest, keysKey(ns), func(v *[]Key, _ bool) (*[]Key, error) {
			for _, k := range keys {
				if !hasKey(*v, k.ID) {
					*v = append(*v, k)
				}
			}
			return v, nil
		}); err != nil {
			return copied, kept, fmt.Errorf("auth: keys of %s: %w", ns, err)
		}

		accs, err := src.Accounts(ctx, ns)
		if err != nil {
			return copied, kept, err
		}
		var c, k int
		var added []string
		replaced := false
		if err := update(ctx, dest, accKey(ns), func(v *accounts, _ bool) (*accounts, error) {
			c, k, replaced, added = 0, 0, false, nil
			if *v == nil {
				*v = accounts{}
			}
			for _, acc := range accs {
				if old, ok := (*v)[acc.ID]; ok && acc.ID == AdminID && firstAdmin(old) && old.UID != acc.UID {
					(*v)[acc.ID] = acc
					c, replaced, added = c+1, true, append(added, acc.ID)
					continue
				}
				if taken(*v, acc) {
					k++
					continue
				}
				(*v)[acc.ID] = acc
				c, added = c+1, append(added, acc.ID)
			}
			if c == 0 {
				return nil, errKeep
			}
			return v, nil
		}); err != nil {
			return copied, kept, fmt.Errorf("auth: accounts of %s: %w", ns, err)
		}
		copied, kept = copied+c, kept+k
		// As every change of an account through this block: this node's
		// cache forgets it now, not when the bucket's watch tells.
		for _, id := range added {
			a.forgetAccount(ns, id)
		}
		if replaced {
			// The first start's admin's sessions end with it.
			if err := dest.dropSessions(ctx, ns, AdminID); err != nil {
				return copied, kept, err
			}
		}

		rules, own, err := src.Rules(ctx, ns)
		if err != nil || !own {
			if err != nil {
				return copied, kept, err
			}
			continue
		}
		if err := update(ctx, dest, rulesKey(ns), func(v *rulesValue, present bool) (*rulesValue, error) {
			if present {
				c, k = 0, len(rules)
				return nil, errKeep
			}
			c, k = len(rules), 0
			return &rulesValue{Rules: append([]Rule{}, rules...)}, nil
		}); err != nil {
			return copied, kept, fmt.Errorf("auth: rules of %s: %w", ns, err)
		}
		a.forgetRules(ns)
		copied, kept = copied+c, kept+k
	}
	return copied, kept, nil
}

func hasKey(keys []Key, id string) bool {
	for _, k := range keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

// taken is whether acc's id or name is already an id or a name in v.
func taken(v accounts, acc Account) bool {
	for _, a := range v {
		if a.ID == acc.ID || a.Name == acc.ID || a.ID == acc.Name || a.Name == acc.Name {
			return true
		}
	}
	return false
}

// Export copies auth on JetStream into to, a fresh file opened with
// Migrations, namespace by namespace: the accounts with their password
// hashes and uids, the rules of namespaces that have their own, and the
// signing keys, each read through the Backend as Import reads the file's.
// The file is marked as started once (its first key and admin are the
// cluster's), so an appliance started on it makes none of its own, and
// tokens the cluster issued verify there until they expire. Refresh
// tokens are not carried, as an import does not carry them.
func (a *Auth) Export(ctx context.Context, to *schema.DB) (copied int, err error) {
	src, ok := a.backend.(*jsBackend)
	if !ok {
		return 0, errors.New("auth: not on JetStream")
	}
	namespaces, err := src.namespaces(ctx)
	if err != nil {
		return 0, err
	}
	for _, ns := range namespaces {
		keys, err := src.Keys(ctx, ns)
		if err != nil {
			return copied, err
		}
		accs, err := src.Accounts(ctx, ns)
		if err != nil {
			return copied, err
		}
		rules, own, err := src.Rules(ctx, ns)
		if err != nil {
			return copied, err
		}
		err = to.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for _, k := range keys {
				if err := insertKey(ctx, tx, k); err != nil {
					return fmt.Errorf("key %s: %w", k.ID, err)
				}
			}
			for _, acc := range accs {
				if err := insertAccount(ctx, tx, acc); err != nil {
					return fmt.Errorf("account %s: %w", acc.ID, err)
				}
			}
			if own {
				return ownRules(ctx, tx, ns, rules, time.Now())
			}
			return nil
		})
		if err != nil {
			return copied, fmt.Errorf("auth: namespace %s: %w", ns, err)
		}
		copied += len(accs)
		if own {
			copied += len(rules)
		}
	}
	err = to.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_settings (key, value) VALUES (?, ?)`,
			bootstrapKey, time.Now().UTC().Format(time.RFC3339))
		return err
	})
	return copied, err
}

// namespaces lists, sorted, the namespaces with accounts, rules or keys.
func (b *jsBackend) namespaces(ctx context.Context) ([]string, error) {
	if _, err := b.bucket(ctx); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, prefix := range []string{"acc.", "rules.", "keys."} {
		keys, err := jsstorage.Keys(ctx, b.js, Bucket, prefix+"*")
		if err != nil {
			return nil, jsstorage.Unavailable(errID, err)
		}
		for _, k := range keys {
			if ns, err := jsstorage.Name(strings.TrimPrefix(k, prefix)); err == nil {
				seen[ns] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
