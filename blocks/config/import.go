package config

import (
	"bytes"
	"context"
	"database/sql"
	stderrors "errors"
	"fmt"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/schema"
)

// Held says what the config holds on JetStream, "" when nothing: what an
// import into it would merge with.
func (c *Config) Held(ctx context.Context) (string, error) {
	b, ok := c.backend.(*jsBackend)
	if !ok {
		return "", stderrors.New("config: not on JetStream")
	}
	if _, err := b.bucket(ctx); err != nil {
		return "", err
	}
	keys, err := jsstorage.Keys(ctx, b.js, Bucket, ">")
	if err != nil {
		return "", jsstorage.Unavailable(errID, err)
	}
	n := 0
	for _, k := range keys {
		if ns, err := jsstorage.Name(k); err == nil {
			if has, err := b.Exists(ctx, ns); err != nil {
				return "", err
			} else if has {
				n++
			}
		}
	}
	if n == 0 {
		return "", nil
	}
	return fmt.Sprintf("config in %d namespaces", n), nil
}

// Import copies the config of an appliance's file from (opened with
// Migrations) into the config on JetStream, namespace by namespace. A
// namespace the cluster already holds is kept as it is, and its leaves in
// the file counted in kept, so importing twice copies nothing the second
// time. Secrets stay secret and open in the cluster: when the cluster has
// no secret key yet it adopts the file's (its sealed values copy as they
// are); otherwise each secret is opened with the file's key and sealed
// again with the cluster's. A secret sealed with a key the file does not
// hold (MICRO_CONFIG_SECRET_KEY) copies as it is when the cluster has that
// key, else the import fails naming it. The namespaces' change logs (what
// a watch resumes from) are not carried: each starts afresh.
func (c *Config) Import(ctx context.Context, from *schema.DB) (copied, kept int, err error) {
	if _, ok := c.backend.(*jsBackend); !ok {
		return 0, 0, stderrors.New("config: not on JetStream")
	}
	src := newSQLite(from, c.now, c.retain)
	fileKey, err := storedKey(ctx, from)
	if err != nil {
		return 0, 0, err
	}
	var fileSealer, clusterSealer *sealer
	if fileKey != nil {
		if fileSealer, err = newSealer(fileKey); err != nil {
			return 0, 0, err
		}
	}
	namespaces, err := from.ReadStrings(ctx, `SELECT DISTINCT namespace FROM config_values ORDER BY namespace`)
	if err != nil {
		return 0, 0, err
	}
	for _, ns := range namespaces {
		leaves, err := src.Leaves(ctx, ns, "")
		if err != nil {
			return copied, kept, err
		}
		has, err := c.backend.Exists(ctx, ns)
		if err != nil {
			return copied, kept, err
		}
		if has {
			kept += len(leaves)
			continue
		}
		for i, l := range leaves {
			if !l.Secret {
				continue
			}
			if clusterSealer == nil {
				if clusterSealer, err = c.adoptKey(ctx, fileKey); err != nil {
					return copied, kept, err
				}
			}
			if l.KeyID == clusterSealer.id {
				continue // sealed with the cluster's key: opens as it is
			}
			if fileSealer == nil {
				return copied, kept, fmt.Errorf("config: secret %s in namespace %s was sealed with key %s, which the file does not hold (MICRO_CONFIG_SECRET_KEY); start the cluster with that key to import it", l.Path, ns, l.KeyID)
			}
			plain, err := fileSealer.open(ns, l.Path, l.Value, l.KeyID)
			if err != nil {
				return copied, kept, err
			}
			if leaves[i].Value, err = clusterSealer.seal(ns, l.Path, plain); err != nil {
				return copied, kept, err
			}
			leaves[i].KeyID = clusterSealer.id
		}
		c.writeMu.Lock()
		_, err = c.backend.Set(ctx, ns, "", leaves, false)
		c.writeMu.Unlock()
		if err != nil {
			return copied, kept, fmt.Errorf("config: namespace %s: %w", ns, err)
		}
		copied += len(leaves)
	}
	return copied, kept, nil
}

// adoptKey returns the cluster's sealer, making fileKey the cluster's key
// when the cluster has none yet and none was given (WithSecretKey).
func (c *Config) adoptKey(ctx context.Context, fileKey []byte) (*sealer, error) {
	if fileKey != nil && c.key == nil {
		c.sealMu.Lock()
		if c.sealer == nil {
			key, err := c.backend.SecretKey(ctx, func() ([]byte, error) { return bytes.Clone(fileKey), nil })
			if err == nil {
				c.sealer, err = newSealer(key)
			}
			if err != nil {
				c.sealMu.Unlock()
				return nil, err
			}
		}
		c.sealMu.Unlock()
	}
	return c.secrets(ctx)
}

// storedKey is the secret key the file keeps, nil when it has none.
func storedKey(ctx context.Context, db *schema.DB) ([]byte, error) {
	var key []byte
	err := db.Read().QueryRowContext(ctx, `SELECT key FROM config_keys WHERE name = 'secret'`).Scan(&key)
	if stderrors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return key, err
}
