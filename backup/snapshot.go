package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"micro.dev/micro/schema"
)

// Source is the database snapshots are taken of: a *schema.DB.
type Source interface {
	// Path is the database file's; snapshots are staged beside it.
	Path() string
	// Backup writes a consistent copy to dest while writers go on.
	Backup(ctx context.Context, dest string) error
}

// checkedComment goes in the gzip header of every snapshot that passed
// PRAGMA integrity_check, so a listing can tell it without downloading it.
const checkedComment = "micro backup; integrity_check ok"

// StagePrefix starts the names of the directories where snapshots are
// staged beside the database; one left by a crash can be removed.
const StagePrefix = ".micro-backup-"

// Result describes a snapshot put at a destination.
type Result struct {
	Name string
	// Size is the compressed size put; DBSize the database's.
	Size, DBSize int64
	Took         time.Duration
}

// Take copies db (VACUUM INTO: one read transaction, writers go on), runs
// PRAGMA integrity_check on the copy, gzips it and puts it at dest as
// Name(now). Nothing is put unless the check passed. The staging files
// beside the database are removed before it returns.
func Take(ctx context.Context, db Source, dest Destination, now time.Time) (Result, error) {
	start := time.Now()
	res := Result{Name: Name(now)}
	stage, err := os.MkdirTemp(filepath.Dir(db.Path()), StagePrefix)
	if err != nil {
		return res, fmt.Errorf("staging: %w", err)
	}
	defer os.RemoveAll(stage)

	raw := filepath.Join(stage, "snapshot.db")
	if err := db.Backup(ctx, raw); err != nil {
		return res, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := schema.Check(ctx, raw); err != nil {
		return res, fmt.Errorf("snapshot %s: %w", res.Name, err)
	}
	packed := filepath.Join(stage, res.Name)
	if res.DBSize, res.Size, err = compress(raw, packed, filepath.Base(db.Path()), now); err != nil {
		return res, fmt.Errorf("compress: %w", err)
	}
	// Free the disk before the (perhaps slow) upload.
	os.Remove(raw)

	f, err := os.Open(packed)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if err := dest.Put(ctx, res.Name, f, res.Size); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// compress gzips src into dst, naming the database and the snapshot time
// in the header.
func compress(src, dst, dbName string, taken time.Time) (rawSize, size int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return 0, 0, err
	}
	zw.Header = gzip.Header{Name: dbName, Comment: checkedComment, ModTime: taken}
	if rawSize, err = io.Copy(zw, in); err != nil {
		return 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	fi, err := out.Stat()
	if err != nil {
		return 0, 0, err
	}
	return rawSize, fi.Size(), out.Close()
}

// Prune deletes the oldest snapshots at dest beyond the newest keep; keep
// 0 keeps all. Only names of snapshots are ever deleted.
func Prune(ctx context.Context, dest Destination, keep int) (deleted []string, err error) {
	if keep <= 0 {
		return nil, nil
	}
	objs, err := dest.List(ctx)
	if err != nil {
		return nil, err
	}
	snaps := Snapshots(objs)
	if len(snaps) <= keep {
		return nil, nil
	}
	var errs []error
	for _, o := range snaps[keep:] {
		if err := dest.Delete(ctx, o.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, o.Name)
	}
	return deleted, errors.Join(errs...)
}

// Entry is one snapshot in a listing.
type Entry struct {
	Object
	// Taken is the snapshot's time, from its name.
	Taken time.Time
	// Integrity is "ok" for a snapshot that passed PRAGMA
	// integrity_check before it was put, else what is known.
	Integrity string
}

// List returns dest's snapshots, newest first, each with the integrity
// result its gzip header records (read from its first bytes only).
func List(ctx context.Context, dest Destination) ([]Entry, error) {
	objs, err := dest.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, o := range Snapshots(objs) {
		taken, _ := ParseName(o.Name)
		out = append(out, Entry{Object: o, Taken: taken, Integrity: inspect(ctx, dest, o.Name)})
	}
	return out, nil
}

// headerBytes is enough of a snapshot to hold its gzip header.
const headerBytes = 4096

func inspect(ctx context.Context, dest Destination, name string) string {
	rc, err := dest.Get(ctx, name, headerBytes)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return "not a gzip file"
	}
	if zr.Header.Comment != checkedComment {
		return "unchecked (not written by micro)"
	}
	return "ok"
}

// Restored describes a restored file.
type Restored struct {
	Name string
	Size int64
	// Versions are the blocks' schema versions in the file.
	Versions map[string]int
}

// Restore fetches name from src (its newest snapshot when name is empty),
// gunzips it (a plain database, as `micro backup` writes, is taken as it
// is), checks it with PRAGMA integrity_check and that it is a micro
// database, and only then puts it at to. An existing to is refused unless
// force, and refused always while a server has it open.
func Restore(ctx context.Context, src Destination, name, to string, force bool) (Restored, error) {
	var res Restored
	if _, err := os.Stat(to); err == nil && !force {
		return res, fmt.Errorf("%s already exists; give a new path, or --force to replace it", to)
	}
	if name == "" {
		var err error
		if name, err = Newest(ctx, src); err != nil {
			return res, err
		}
	}
	res.Name = name
	rc, err := src.Get(ctx, name, 0)
	if err != nil {
		return res, err
	}
	defer rc.Close()

	dir := filepath.Dir(to)
	tmp, err := os.CreateTemp(dir, ".micro-restore-*")
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if res.Size, err = unpack(rc, tmp); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return res, err
	}
	if err := tmp.Close(); err != nil {
		return res, err
	}
	if res.Versions, err = schema.Check(ctx, tmp.Name()); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	if err := schema.Replace(tmp.Name(), to); err != nil {
		return res, err
	}
	return res, nil
}

// unpack copies a gzip stream (checking its CRC and length) or a plain
// file from r to w.
func unpack(r io.Reader, w io.Writer) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(2)
	if err != nil {
		return 0, fmt.Errorf("too short to be a backup: %w", err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return io.Copy(w, br)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return 0, err
	}
	zr.Multistream(false)
	n, err := io.Copy(w, zr)
	if err != nil {
		return n, fmt.Errorf("damaged or incomplete: %w", err)
	}
	return n, nil
}
