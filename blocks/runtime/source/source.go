// Package source is the archive format of service sources: what `micro run`
// uploads (runtime.Source/Upload) and what the runtime snapshots into the
// database, a tar.gz of a directory. The CLI and the runtime block share it,
// so both sides agree on what is packed and what is refused.
package source

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxSize is the default limit on the files of one source, in bytes: what
// the runtime accepts unless configured otherwise, and what the CLI packs.
const MaxSize = 64 << 20

// maxArchiveEntries bounds the files of one source archive.
const maxArchiveEntries = 100_000

// ErrTooLarge is returned when a source is over its size limit.
var ErrTooLarge = errors.New("source is too large")

// Skip reports whether a directory is left out of snapshots and of
// watching: version control and dependency caches.
func Skip(name string) bool {
	return name == ".git" || name == ".hg" || name == ".svn" || name == "node_modules"
}

// Pack writes root as a tar.gz to w: regular files and directories, with
// paths relative to root; .git and node_modules are left out. It fails with
// ErrTooLarge once the files add up to more than limit bytes.
func Pack(w io.Writer, root string, limit int64) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && Skip(d.Name()) {
			return filepath.SkipDir
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil // symlinks, sockets, devices
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uname, hdr.Gname = "", ""
		if d.IsDir() {
			hdr.Name += "/"
			return tw.WriteHeader(hdr)
		}
		if total += info.Size(); total > limit {
			return fmt.Errorf("%w: more than %d MiB", ErrTooLarge, limit>>20)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, info.Size())
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// Unpack unpacks the tar.gz in r into dest (created). Only regular files and
// directories are unpacked; a path that would land outside dest, or more
// than limit bytes of content in total, is an error. With dest empty, the
// archive is only checked.
func Unpack(r io.Reader, dest string, limit int64) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a tar.gz archive: %w", err)
	}
	if dest != "" {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar.gz archive: %w", err)
		}
		if n >= maxArchiveEntries {
			return fmt.Errorf("archive has more than %d entries", maxArchiveEntries)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, `\`) {
			return fmt.Errorf("archive entry %q is outside the source directory", hdr.Name)
		}
		if hdr.Typeflag == tar.TypeReg {
			if total += hdr.Size; total > limit {
				return fmt.Errorf("%w: unpacks to more than %d MiB", ErrTooLarge, limit>>20)
			}
		}
		if dest == "" {
			continue
		}
		target := filepath.Join(dest, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, tr, hdr.Size, fs.FileMode(hdr.Mode).Perm()|0o600); err != nil {
				return err
			}
		}
	}
}

func writeFile(name string, r io.Reader, size int64, mode fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
