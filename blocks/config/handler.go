package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	stderrors "errors"
	"time"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/config"
	"micro.dev/micro/schema"
)

const errID = "config"

// maxNamespaceSize bounds namespace names.
const maxNamespaceSize = 255

// Get returns the value at path: a leaf's JSON, or the object rebuilt from
// the leaves under path (the whole namespace for the empty path). Secrets
// read as "[secret]" unless options.secret is set. As in Micro, a namespace
// that holds nothing is a 404 and a missing path in one that does is the
// value null.
func (c *Config) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return nil, err
	}
	data, _, rev, err := c.value(ctx, ns, path, req.GetOptions().GetSecret())
	if err != nil {
		return nil, err
	}
	return &pb.GetResponse{Value: &pb.Value{Data: data, Format: "json"}, Revision: rev}, nil
}

// Set writes value (JSON text) at path. An object merges into what is
// there, one leaf per key; anything else replaces the path. With
// options.secret every leaf is sealed.
func (c *Config) Set(ctx context.Context, req *pb.SetRequest) (*pb.SetResponse, error) {
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.BadRequest(errID, "path is required: name what to set, e.g. helloworld.greeting")
	}
	v := req.GetValue()
	if v == nil || v.GetData() == "" {
		return nil, errors.BadRequest(errID, "value is required: give JSON text in value.data")
	}
	if f := v.GetFormat(); f != "" && f != "json" {
		return nil, errors.BadRequest(errID, "value format %q is not supported; use json", f)
	}
	if n := len(v.GetData()); n > MaxValueSize {
		return nil, errors.BadRequest(errID, "value is %d bytes; the limit is %d", n, MaxValueSize)
	}
	values, merge, err := flatten(path, v.GetData())
	if err != nil {
		return nil, errors.BadRequest(errID, "%v", err)
	}
	leaves := make([]Leaf, len(values))
	var s *sealer
	if req.GetOptions().GetSecret() {
		if s, err = c.secrets(ctx); err != nil {
			return nil, c.failed(ctx, "loading the secret key", err)
		}
	}
	for i, lv := range values {
		leaves[i] = Leaf{Path: lv.path, Value: lv.json}
		if s != nil {
			if leaves[i].Value, err = s.seal(ns, lv.path, lv.json); err != nil {
				return nil, c.failed(ctx, "sealing a secret", err)
			}
			leaves[i].Secret, leaves[i].KeyID = true, s.id
		}
	}

	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	rev, err := c.backend.Set(ctx, ns, path, leaves, !merge)
	if err != nil {
		var se *ScalarError
		if stderrors.As(err, &se) {
			return nil, errors.BadRequest(errID, "cannot set %s: %v", path, se)
		}
		return nil, c.failed(ctx, "set", err)
	}
	if !c.follow {
		c.notify(ns, path, rev)
	}
	return &pb.SetResponse{}, nil
}

// Delete removes path and everything under it; the empty path removes the
// whole namespace. A namespace that holds nothing is a 404, as for Get; a
// missing path in one that does is not an error.
func (c *Config) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return nil, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	// A delete frees space: it runs even under --min-free-space.
	rev, err := c.backend.Delete(schema.Freeing(ctx), ns, path)
	if err != nil {
		return nil, c.failed(ctx, "delete", err)
	}
	if rev == 0 {
		exists, err := c.backend.Exists(ctx, ns)
		if err != nil {
			return nil, c.failed(ctx, "delete", err)
		}
		if !exists {
			return nil, errors.NotFound(errID, "not found: namespace %s has no config", ns)
		}
		return &pb.DeleteResponse{}, nil
	}
	if !c.follow {
		c.notify(ns, path, rev)
	}
	return &pb.DeleteResponse{}, nil
}

// Read is the legacy form of Get (secrets always masked): the value wrapped
// in a change set with a checksum (SHA-256 of the data, hex) and the time of
// the latest change under path (unix seconds).
func (c *Config) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	ns, path, err := c.scope(ctx, req.GetNamespace(), req.GetPath())
	if err != nil {
		return nil, err
	}
	data, updated, _, err := c.value(ctx, ns, path, false)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(data))
	var ts int64
	if !updated.IsZero() {
		ts = updated.Unix()
	}
	return &pb.ReadResponse{Change: &pb.Change{Namespace: ns, Path: path, ChangeSet: &pb.ChangeSet{
		Data: data, Checksum: hex.EncodeToString(sum[:]), Format: "json", Source: "config", Timestamp: ts,
	}}}, nil
}

// scope checks the caller may act on the namespace (the request's, else
// the caller's) and that path is well formed.
func (c *Config) scope(ctx context.Context, ns, path string) (string, string, error) {
	if ns == "" {
		ns = metadata.NamespaceFrom(ctx)
	}
	if len(ns) > maxNamespaceSize {
		return "", "", errors.BadRequest(errID, "namespace is %d bytes; the limit is %d", len(ns), maxNamespaceSize)
	}
	if err := c.authz.Check(ctx, ns, true); err != nil {
		return "", "", errors.FromError(err, errID)
	}
	if _, err := splitPath(path); err != nil {
		return "", "", errors.BadRequest(errID, "%v", err)
	}
	return ns, path, nil
}

// value reads the JSON at path, the latest update time under it and the
// namespace's revision it was read at; reveal opens secrets instead of
// masking them. A namespace holding nothing is a 404.
func (c *Config) value(ctx context.Context, ns, path string, reveal bool) (string, time.Time, uint64, error) {
	leaves, rev, err := c.backend.Snapshot(ctx, ns, path)
	if err != nil {
		return "", time.Time{}, 0, c.failed(ctx, "read", err)
	}
	if len(leaves) == 0 {
		exists, err := c.backend.Exists(ctx, ns)
		if err != nil {
			return "", time.Time{}, 0, c.failed(ctx, "read", err)
		}
		if !exists {
			return "", time.Time{}, 0, errors.NotFound(errID, "not found: namespace %s has no config", ns)
		}
	}
	data, err := c.render(ctx, ns, path, leaves, reveal)
	if err != nil {
		return "", time.Time{}, 0, err
	}
	var updated time.Time
	for _, l := range leaves {
		if l.Updated.After(updated) {
			updated = l.Updated
		}
	}
	return data, updated, rev, nil
}

// render builds the JSON at path from its leaves.
func (c *Config) render(ctx context.Context, ns, path string, leaves []Leaf, reveal bool) (string, error) {
	var s *sealer
	return build(path, leaves, func(l Leaf) (string, error) {
		if !l.Secret {
			return l.Value, nil
		}
		if !reveal {
			return Secret, nil
		}
		if s == nil {
			var err error
			if s, err = c.secrets(ctx); err != nil {
				return "", c.failed(ctx, "loading the secret key", err)
			}
		}
		v, err := s.open(ns, l.Path, l.Value, l.KeyID)
		if err != nil {
			c.log.Error("config: opening a secret failed", "namespace", ns, "path", l.Path, "err", err)
			return "", errors.InternalServerError(errID, "%v", err)
		}
		return v, nil
	})
}

var errShuttingDown = errors.ServiceUnavailable(errID, "config is shutting down")

// failed turns a backend error into the caller's answer: a shutdown is a
// 503, an ended call keeps its own code, anything else is logged and a 500.
func (c *Config) failed(ctx context.Context, op string, err error) error {
	return failure.Answer(ctx, c.log, errID, op, err)
}
