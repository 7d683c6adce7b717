// Package backup takes scheduled snapshots of micro's database off the
// machine: a consistent copy (schema's VACUUM INTO, so writers go on),
// checked with PRAGMA integrity_check, gzip-compressed and put in a
// Destination (a local directory or an S3-compatible bucket), after which
// the oldest snapshots beyond the retention count are deleted. Restore
// fetches one back, checks it the same way and leaves a file a server can
// start on.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
)

// Destination is where snapshots are kept.
type Destination interface {
	// String names the destination for logs and listings, without secrets.
	String() string
	// Put stores size bytes from r as name, replacing nothing partially:
	// the object appears whole or not at all.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// List returns the objects directly at the destination.
	List(ctx context.Context) ([]Object, error)
	// Get reads name; limit > 0 reads only its first limit bytes.
	Get(ctx context.Context, name string, limit int64) (io.ReadCloser, error)
	// Delete removes name.
	Delete(ctx context.Context, name string) error
}

// Object is one object at a destination.
type Object struct {
	Name     string
	Size     int64
	Modified time.Time
}

// ErrNotFound is returned by Get for a name the destination does not hold.
var ErrNotFound = errors.New("no such backup")

// Snapshot names are micro-<UTC time>.db.gz: they sort in time order, and
// retention only ever deletes names of this form.
const (
	namePrefix = "micro-"
	nameSuffix = ".db.gz"
	nameTime   = "20060102T150405.000Z"
)

// Name is the object name of a snapshot taken at t.
func Name(t time.Time) string {
	return namePrefix + t.UTC().Format(nameTime) + nameSuffix
}

// ParseName returns the time of a snapshot's name, and false for names
// that are not snapshots'.
func ParseName(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return time.Time{}, false
	}
	if s, ok = strings.CutSuffix(s, nameSuffix); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(nameTime, s)
	return t, err == nil
}

// Snapshots returns the objects that are snapshots, newest first.
func Snapshots(objs []Object) []Object {
	var out []Object
	for _, o := range objs {
		if _, ok := ParseName(o.Name); ok {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name > out[j].Name })
	return out
}

// Open returns the destination a --backup-to value names: s3://bucket/prefix
// (with ?endpoint=, ?region= and ?path-style= for services other than
// AWS; see OpenS3) or a local directory, given as a path or file:// URL.
func Open(target string) (Destination, error) {
	switch {
	case target == "":
		return nil, errors.New("no backup destination: give a directory or s3://bucket/prefix")
	case strings.HasPrefix(target, "s3://"):
		return OpenS3(target)
	case strings.HasPrefix(target, "file://"):
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("backup destination %q: %w", target, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("backup destination %q: a file:// URL names a path on this machine (file:///var/backups/micro)", target)
		}
		return OpenDir(u.Path)
	case strings.Contains(target, "://"):
		return nil, fmt.Errorf("backup destination %q: only a directory or s3://bucket/prefix are supported", target)
	}
	return OpenDir(target)
}

// Locate splits what `micro restore` is given into a destination and the
// name of one snapshot in it. A target that ends in a snapshot's name (or,
// locally, any existing file) names that object; any other names a
// destination, and the name is empty: its newest snapshot is meant.
func Locate(target string) (Destination, string, error) {
	if strings.HasPrefix(target, "s3://") {
		u, err := url.Parse(target)
		if err != nil {
			return nil, "", fmt.Errorf("%q: %w", target, err)
		}
		base := path.Base(u.Path)
		if _, ok := ParseName(base); ok || strings.HasSuffix(base, ".gz") {
			u.Path = path.Dir(u.Path)
			d, err := Open(u.String())
			return d, base, err
		}
		d, err := Open(target)
		return d, "", err
	}
	d, name, err := locateLocal(target)
	return d, name, err
}

// Newest returns the name of dest's newest snapshot.
func Newest(ctx context.Context, dest Destination) (string, error) {
	objs, err := dest.List(ctx)
	if err != nil {
		return "", err
	}
	snaps := Snapshots(objs)
	if len(snaps) == 0 {
		return "", fmt.Errorf("%s holds no backups (micro-*.db.gz)", dest)
	}
	return snaps[0].Name, nil
}
