package config

import (
	"bytes"
	"context"
	"database/sql"
	stderrors "errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

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
	namespaces, err := b.namespaces(ctx)
	if err != nil || len(namespaces) == 0 {
		return "", err
	}
	return fmt.Sprintf("config in %d namespaces", len(namespaces)), nil
}

// namespaces lists, sorted, the namespaces holding a leaf.
func (b *jsBackend) namespaces(ctx context.Context) ([]string, error) {
	if _, err := b.bucket(ctx); err != nil {
		return nil, err
	}
	keys, err := jsstorage.Keys(ctx, b.js, Bucket, ">")
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	var out []string
	for _, k := range keys {
		if ns, err := jsstorage.Name(k); err == nil {
			if has, err := b.Exists(ctx, ns); err != nil {
				return nil, err
			} else if has {
				out = append(out, ns)
			}
		}
	}
	slices.Sort(out)
	return out, nil
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
	reseal := func(ns string, l *Leaf) error {
		if clusterSealer == nil {
			if clusterSealer, err = c.adoptKey(ctx, fileKey); err != nil {
				return err
			}
		}
		if l.KeyID == clusterSealer.id {
			return nil // sealed with the cluster's key: opens as it is
		}
		if fileSealer == nil {
			return fmt.Errorf("config: secret %s in namespace %s was sealed with key %s, which the file does not hold (MICRO_CONFIG_SECRET_KEY); start the cluster with that key to import it", l.Path, ns, l.KeyID)
		}
		plain, err := fileSealer.open(ns, l.Path, l.Value, l.KeyID)
		if err != nil {
			return err
		}
		if l.Value, err = clusterSealer.seal(ns, l.Path, plain); err != nil {
			return err
		}
		l.KeyID = clusterSealer.id
		return nil
	}
	return copyNamespaces(ctx, newSQLite(from, c.now, c.retain), ordered{c.backend, &c.writeMu}, namespaces, reseal)
}

// ordered is a Backend whose sets are ordered with the block's own writes
// (Config.writeMu), as every write through the block is.
type ordered struct {
	Backend
	mu *sync.Mutex
}

func (b ordered) Set(ctx context.Context, ns, path string, leaves []Leaf, replace bool) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.Set(ctx, ns, path, leaves, replace)
}

// Export copies the config on JetStream into to, a fresh file opened with
// Migrations: Import the other way, through the same copy. The secrets
// copy sealed as they are, and the cluster's stored key goes into the
// file as an appliance keeps its own, so they open where the file is
// started. A cluster given its key (MICRO_CONFIG_SECRET_KEY) stores none:
// its file opens with that key given again, as an appliance's would.
func (c *Config) Export(ctx context.Context, to *schema.DB) (copied int, err error) {
	src, ok := c.backend.(*jsBackend)
	if !ok {
		return 0, stderrors.New("config: not on JetStream")
	}
	namespaces, err := src.namespaces(ctx)
	if err != nil {
		return 0, err
	}
	dest := newSQLite(to, c.now, c.retain)
	key, err := src.storedKey(ctx)
	if err != nil {
		return 0, err
	}
	if key != nil {
		if _, err := dest.SecretKey(ctx, func() ([]byte, error) { return key, nil }); err != nil {
			return 0, err
		}
	}
	copied, _, err = copyNamespaces(ctx, src, dest, namespaces, nil)
	return copied, err
}

// copyNamespaces copies namespaces from src into dest, each whole: one
// dest holds already is kept as it is, its leaves in src counted in kept.
// reseal, when set, makes each secret one that opens in dest.
func copyNamespaces(ctx context.Context, src, dest Backend, namespaces []string, reseal func(ns string, l *Leaf) error) (copied, kept int, err error) {
	for _, ns := range namespaces {
		leaves, err := src.Leaves(ctx, ns, "")
		if err != nil {
			return copied, kept, err
		}
		has, err := dest.Exists(ctx, ns)
		if err != nil {
			return copied, kept, err
		}
		if has {
			kept += len(leaves)
			continue
		}
		for i := range leaves {
			if leaves[i].Secret && reseal != nil {
				if err := reseal(ns, &leaves[i]); err != nil {
					return copied, kept, err
				}
			}
		}
		if _, err = dest.Set(ctx, ns, "", leaves, false); err != nil {
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

// storedKey is the cluster's stored secret key, nil when it has none:
// read, never made.
func (b *jsBackend) storedKey(ctx context.Context) ([]byte, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, secretKeyKey)
	if stderrors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	return e.Value(), nil
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
