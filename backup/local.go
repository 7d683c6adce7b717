package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a destination in a directory of this machine (a mounted disk, a
// synced folder). It is created on the first Put.
type Dir struct {
	path string
}

// OpenDir returns the directory destination at path.
func OpenDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("no backup directory given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("backup directory %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("backup directory %s is a file; give a directory", path)
	}
	return &Dir{path: abs}, nil
}

func (d *Dir) String() string { return d.path }

// Put writes a temporary file in the directory, syncs it and renames it
// into place, so a reader never sees part of a snapshot.
func (d *Dir) Put(ctx context.Context, name string, r io.Reader, _ int64) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.path, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(&syncEvery{f: tmp}, readerWithContext{ctx, r}); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.path, name)); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if dir, err := os.Open(d.path); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

func (d *Dir) List(ctx context.Context) ([]Object, error) {
	entries, err := os.ReadDir(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing backed up yet
	}
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		out = append(out, Object{Name: e.Name(), Size: fi.Size(), Modified: fi.ModTime()})
	}
	return out, nil
}

func (d *Dir) Get(_ context.Context, name string, limit int64) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.path, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", name, d.path, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, limit), f}, nil
	}
	return f, nil
}

func (d *Dir) Delete(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return os.Remove(filepath.Join(d.path, name))
}

// locateLocal is Locate for a path on this machine: a file is that object
// of its directory, a directory is the destination.
func locateLocal(target string) (Destination, string, error) {
	p := strings.TrimPrefix(target, "file://")
	fi, err := os.Stat(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", target, cleanPathError(err))
	}
	if fi.IsDir() {
		d, err := OpenDir(p)
		return d, "", err
	}
	d, err := OpenDir(filepath.Dir(p))
	return d, filepath.Base(p), err
}

// checkName refuses names that would leave the directory.
func checkName(name string) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("backup name %q is not a plain file name", name)
	}
	return nil
}

func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readerWithContext stops a copy once ctx is done.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// syncStep is how much a Put writes between syncs: syncing a large file at
// once would hold a database on the same disk behind it in the file
// system's journal (its commits sync too), for as long as that takes.
const syncStep = 8 << 20

// syncEvery writes to f and syncs it every syncStep bytes.
type syncEvery struct {
	f       *os.File
	pending int
}

func (s *syncEvery) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil {
		return n, err
	}
	if s.pending += n; s.pending >= syncStep {
		s.pending = 0
		err = s.f.Sync()
	}
	return n, err
}
