package registry

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "micro.dev/micro/proto/registry"
	"micro.dev/micro/schema"
)

// sqliteBackend keeps registrations in the registry_* tables of the micro
// database: queries on the read pool, every change through the group-commit
// writer.
type sqliteBackend struct {
	db  *schema.DB
	now func() time.Time
}

func newSQLite(db *schema.DB, now func() time.Time) *sqliteBackend {
	return &sqliteBackend{db: db, now: now}
}

// querier is what both the read pool and a write transaction offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var endpointsJSON = protojson.MarshalOptions{UseProtoNames: true}

func encodeMetadata(md map[string]string) string {
	if len(md) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(md) // a map of strings always encodes, keys sorted
	return string(b)
}

func decodeMetadata(s string) map[string]string {
	if s == "" || s == "{}" {
		return nil
	}
	var md map[string]string
	if json.Unmarshal([]byte(s), &md) != nil {
		return nil
	}
	return md
}

func encodeEndpoints(eps []*pb.Endpoint) (string, error) {
	if len(eps) == 0 {
		return "{}", nil
	}
	b, err := endpointsJSON.Marshal(&pb.Service{Endpoints: eps})
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return "", err
	}
	return out.String(), nil
}

func decodeEndpoints(s string) []*pb.Endpoint {
	if s == "" || s == "{}" {
		return nil
	}
	var svc pb.Service
	if protojson.Unmarshal([]byte(s), &svc) != nil {
		return nil
	}
	return svc.Endpoints
}

func (b *sqliteBackend) Register(ctx context.Context, s Service) (*Change, error) {
	meta := encodeMetadata(s.Metadata)
	eps, err := encodeEndpoints(s.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("encoding endpoints: %w", err)
	}
	var change *Change
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		change = nil
		now := b.now().UnixNano()
		var oldMeta, oldEps string
		err := tx.QueryRowContext(ctx, `SELECT metadata, endpoints FROM registry_services
			WHERE domain = ? AND name = ? AND version = ?`, s.Domain, s.Name, s.Version).Scan(&oldMeta, &oldEps)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		before, err := liveNodes(ctx, tx, s.Domain, s.Name, s.Version, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO registry_services (domain, name, version, metadata, endpoints, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (domain, name, version) DO UPDATE SET
				metadata = excluded.metadata, endpoints = excluded.endpoints, updated_at = excluded.updated_at`,
			s.Domain, s.Name, s.Version, meta, eps, now); err != nil {
			return err
		}
		changed := len(before) == 0 || oldMeta != meta || oldEps != eps
		for _, n := range s.Nodes {
			nmeta := encodeMetadata(n.Metadata)
			if old, ok := before[n.ID]; !ok || old.Address != n.Address || encodeMetadata(old.Metadata) != nmeta {
				changed = true
			}
			// A node that had expired is registered afresh.
			if _, err := tx.ExecContext(ctx, `INSERT INTO registry_nodes
				(domain, name, version, id, address, metadata, registered_at, expires_at)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
				ON CONFLICT (domain, name, version, id) DO UPDATE SET
					address = excluded.address, metadata = excluded.metadata, expires_at = excluded.expires_at,
					registered_at = CASE WHEN expires_at <= ?7 THEN excluded.registered_at ELSE registered_at END`,
				s.Domain, s.Name, s.Version, n.ID, n.Address, nmeta, now, n.Expires.UnixNano()); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		after, err := b.services(ctx, tx, s.Domain, s.Name, "AND s.version = ?", s.Version)
		if err != nil || len(after) == 0 {
			return err
		}
		action := ActionUpdate
		if len(before) == 0 {
			action = ActionCreate
		}
		change = &Change{Action: action, Service: after[0]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return change, nil
}

// liveNodes returns the live nodes of a service version by id.
func liveNodes(ctx context.Context, q querier, domain, name, version string, now int64) (map[string]Node, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, address, metadata, expires_at FROM registry_nodes
		WHERE domain = ? AND name = ? AND version = ? AND expires_at > ?`, domain, name, version, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nodes := map[string]Node{}
	for rows.Next() {
		var n Node
		var meta string
		var exp int64
		if err := rows.Scan(&n.ID, &n.Address, &meta, &exp); err != nil {
			return nil, err
		}
		n.Metadata, n.Expires = decodeMetadata(meta), time.Unix(0, exp)
		nodes[n.ID] = n
	}
	return nodes, rows.Err()
}

func (b *sqliteBackend) Deregister(ctx context.Context, domain, name, version string, ids []string) (*Change, error) {
	var change *Change
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		change = nil
		now := b.now().UnixNano()
		before, err := b.services(ctx, tx, domain, name, "AND s.version = ?", version)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM registry_services WHERE domain = ? AND name = ? AND version = ?`,
				domain, name, version); err != nil {
				return err
			}
		} else {
			args := []any{domain, name, version}
			for _, id := range ids {
				args = append(args, id)
			}
			q := `DELETE FROM registry_nodes WHERE domain = ? AND name = ? AND version = ? AND id IN (?` +
				strings.Repeat(", ?", len(ids)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		if len(before) == 0 {
			return nil // nothing live was there: nothing to announce
		}
		left, err := liveNodes(ctx, tx, domain, name, version, now)
		if err != nil {
			return err
		}
		if len(left) == len(before[0].Nodes) {
			return nil
		}
		if len(left) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM registry_services WHERE domain = ? AND name = ? AND version = ?`,
				domain, name, version); err != nil {
				return err
			}
			change = &Change{Action: ActionDelete, Service: before[0]}
			return nil
		}
		after, err := b.services(ctx, tx, domain, name, "AND s.version = ?", version)
		if err != nil || len(after) == 0 {
			return err
		}
		change = &Change{Action: ActionUpdate, Service: after[0]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return change, nil
}

func (b *sqliteBackend) Get(ctx context.Context, domain, name string) ([]Service, error) {
	return b.services(ctx, b.db.Read(), domain, name, "")
}

func (b *sqliteBackend) List(ctx context.Context, domain string) ([]Service, error) {
	return b.services(ctx, b.db.Read(), domain, "", "")
}

// services reads the live service versions of domain (AnyDomain: all)
// named name ("" for all), with extra conditions on s.* appended.
func (b *sqliteBackend) services(ctx context.Context, q querier, domain, name, extra string, extraArgs ...any) ([]Service, error) {
	query := `SELECT s.domain, s.name, s.version, s.metadata, s.endpoints, n.id, n.address, n.metadata, n.expires_at
		FROM registry_services s JOIN registry_nodes n USING (domain, name, version)
		WHERE n.expires_at > ?`
	args := []any{b.now().UnixNano()}
	if domain != AnyDomain {
		query += ` AND s.domain = ?`
		args = append(args, domain)
	}
	if name != "" {
		query += ` AND s.name = ?`
		args = append(args, name)
	}
	query += " " + extra + ` ORDER BY s.domain, s.name, s.version, n.id`
	args = append(args, extraArgs...)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		var s Service
		var smeta, eps, nmeta string
		var n Node
		var exp int64
		if err := rows.Scan(&s.Domain, &s.Name, &s.Version, &smeta, &eps, &n.ID, &n.Address, &nmeta, &exp); err != nil {
			return nil, err
		}
		n.Metadata, n.Expires = decodeMetadata(nmeta), time.Unix(0, exp)
		if last := len(out) - 1; last >= 0 && out[last].Domain == s.Domain && out[last].Name == s.Name && out[last].Version == s.Version {
			out[last].Nodes = append(out[last].Nodes, n)
			continue
		}
		s.Metadata, s.Endpoints, s.Nodes = decodeMetadata(smeta), decodeEndpoints(eps), []Node{n}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) Sweep(ctx context.Context) ([]Change, error) {
	now := b.now().UnixNano()
	var one int
	err := b.db.Read().QueryRowContext(ctx, `SELECT 1 FROM registry_nodes WHERE expires_at <= ? LIMIT 1`, now).Scan(&one)
	if err == sql.ErrNoRows {
		return nil, nil // the common case: nothing to write
	}
	if err != nil {
		return nil, err
	}
	var changes []Change
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		changes = nil
		rows, err := tx.QueryContext(ctx, `SELECT n.domain, n.name, n.version, s.metadata, s.endpoints, n.id, n.address, n.metadata, n.expires_at
			FROM registry_nodes n JOIN registry_services s USING (domain, name, version)
			WHERE n.expires_at <= ? ORDER BY n.domain, n.name, n.version, n.id`, now)
		if err != nil {
			return err
		}
		type key struct{ domain, name, version string }
		gone := map[key]*Service{}
		var order []key
		for rows.Next() {
			var s Service
			var smeta, eps, nmeta string
			var n Node
			var exp int64
			if err := rows.Scan(&s.Domain, &s.Name, &s.Version, &smeta, &eps, &n.ID, &n.Address, &nmeta, &exp); err != nil {
				rows.Close()
				return err
			}
			n.Metadata, n.Expires = decodeMetadata(nmeta), time.Unix(0, exp)
			k := key{s.Domain, s.Name, s.Version}
			if prev, ok := gone[k]; ok {
				prev.Nodes = append(prev.Nodes, n)
				continue
			}
			s.Metadata, s.Endpoints, s.Nodes = decodeMetadata(smeta), decodeEndpoints(eps), []Node{n}
			gone[k] = &s
			order = append(order, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM registry_nodes WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		for _, k := range order {
			after, err := b.services(ctx, tx, k.domain, k.name, "AND s.version = ?", k.version)
			if err != nil {
				return err
			}
			if len(after) > 0 {
				changes = append(changes, Change{Action: ActionUpdate, Service: after[0]})
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM registry_services WHERE domain = ? AND name = ? AND version = ?`,
				k.domain, k.name, k.version); err != nil {
				return err
			}
			changes = append(changes, Change{Action: ActionDelete, Service: *gone[k]})
		}
		return nil
	})
	return changes, err
}

func (b *sqliteBackend) Forget(ctx context.Context) (int64, error) {
	var n int64
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM registry_nodes`)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM registry_services`)
		return err
	})
	return n, err
}
