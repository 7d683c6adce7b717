package store

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"strings"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/schema"
)

// importPage bounds the records one read of the file returns.
const importPage = 1000

// Held says what the store holds on JetStream, "" when nothing: what an
// import into it would merge with. It asks the streams' leaders for their
// counts rather than scanning: a scan needs a consumer placed, which times
// out on a cluster whose node has just come back.
func (s *Store) Held(ctx context.Context) (string, error) {
	records, ok := s.backend.(*jsBackend)
	if !ok {
		return "", stderrors.New("store: not on JetStream")
	}
	stream, err := records.ready()
	if err != nil {
		return "", err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return "", jsstorage.Unavailable(errID, err)
	}
	_, blobStream, err := s.blobs.backend.(*blobJetStream).ready()
	if err != nil {
		return "", err
	}
	blobInfo, err := blobStream.Info(ctx)
	if err != nil {
		return "", jsstorage.Unavailable(errID, err)
	}
	// A key counts until a delete's marker expires (deletedTTL).
	var held []string
	if n := info.State.NumSubjects; n > 0 {
		held = append(held, fmt.Sprintf("%d record keys", n))
	}
	if blobInfo.State.Msgs > 0 {
		held = append(held, "blobs")
	}
	return strings.Join(held, ", "), nil
}

// Import copies the live records and blobs of an appliance's file from
// (opened with Migrations) into the store on JetStream, keeping each
// record's value, metadata, expiry and times. A record or blob the cluster
// already has under the same database, table and key is kept as it is
// and counted in kept, so importing twice copies nothing the second time.
func (s *Store) Import(ctx context.Context, from *schema.DB) (copied, kept int, err error) {
	dest, ok := s.backend.(*jsBackend)
	if !ok {
		return 0, 0, stderrors.New("store: not on JetStream")
	}
	// One record a write: a record the cluster has fails only its own.
	copied, kept, err = copyRecords(ctx, newSQLite(from, s.now, noNotify{}), dest, 1)
	if err != nil {
		return copied, kept, err
	}
	c, k, err := copyBlobs(ctx, newBlobSQLite(from, s.now), s.blobs.backend)
	return copied + c, kept + k, err
}

// Export copies the live records and blobs of the store on JetStream into
// to, a fresh file opened with Migrations: Import the other way, through
// the same copy, so the file holds what an appliance's would.
func (s *Store) Export(ctx context.Context, to *schema.DB) (copied int, err error) {
	src, ok := s.backend.(*jsBackend)
	if !ok {
		return 0, stderrors.New("store: not on JetStream")
	}
	blobs, ok := s.blobs.backend.(*blobJetStream)
	if !ok {
		return 0, stderrors.New("store: blobs not on JetStream")
	}
	// A file's commit syncs: a page of records a commit.
	copied, _, err = copyRecords(ctx, src, newSQLite(to, s.now, noNotify{}), importPage)
	if err != nil {
		return copied, err
	}
	c, _, err := copyBlobs(ctx, blobs, newBlobSQLite(to, s.now))
	return copied + c, err
}

// recordSource yields every live record of a backend, with its database
// and table.
type recordSource interface {
	eachRecord(ctx context.Context, fn func(database, table string, r Record) error) error
}

// eachRecord reads the file table by table, a page at a time.
func (b *sqliteBackend) eachRecord(ctx context.Context, fn func(database, table string, r Record) error) error {
	dbs, err := b.Databases(ctx)
	if err != nil {
		return err
	}
	for _, db := range dbs {
		tables, err := b.Tables(ctx, db)
		if err != nil {
			return err
		}
		for _, table := range tables {
			for offset := uint64(0); ; offset += importPage {
				recs, err := b.Read(ctx, db, table, Query{Limit: importPage, Offset: offset})
				if err != nil {
					return err
				}
				for _, r := range recs {
					if err := fn(db, table, r); err != nil {
						return err
					}
				}
				if len(recs) < importPage {
					break
				}
			}
		}
	}
	return nil
}

// eachRecord scans the bucket once: a page by offset would scan it again
// for every page.
func (b *jsBackend) eachRecord(ctx context.Context, fn func(database, table string, r Record) error) error {
	stream, err := b.ready()
	if err != nil {
		return err
	}
	return b.scan(ctx, stream, "", "", false, fn)
}

// copyPageBytes bounds the values a page of copied records holds.
const copyPageBytes = 8 << 20

// copyRecords writes every live record of src into dest, create-only and
// with the record's own times, in batches of up to batch records of one
// database. A batch refused because dest has one of its records is
// written again a record at a time: a record dest has is kept as it is
// and counted in kept.
func copyRecords(ctx context.Context, src recordSource, dest Backend, batch int) (copied, kept int, err error) {
	absent := int64(0)
	pages := map[string][]Op{}
	held := 0 // bytes of values in pages
	flush := func(db string) error {
		ops := pages[db]
		delete(pages, db)
		for _, op := range ops {
			held -= len(op.Write.Value)
		}
		var mismatch *RevisionMismatch
		if len(ops) > 1 {
			_, err := dest.Batch(ctx, db, ops)
			if err == nil {
				copied += len(ops)
				return nil
			}
			if !stderrors.As(err, &mismatch) {
				return fmt.Errorf("store: %s: %w", db, err)
			}
		}
		for _, op := range ops {
			switch _, err := dest.Batch(ctx, db, []Op{op}); {
			case err == nil:
				copied++
			case stderrors.As(err, &mismatch):
				kept++
			default:
				return fmt.Errorf("store: %s/%s/%s: %w", db, op.Table, op.Write.Key, err)
			}
		}
		return nil
	}
	flushAll := func() error {
		for db := range pages {
			if err := flush(db); err != nil {
				return err
			}
		}
		return nil
	}
	err = src.eachRecord(ctx, func(db, table string, r Record) error {
		pages[db] = append(pages[db], Op{Table: table, Write: &r, IfRevision: &absent, keepTimes: true})
		held += len(r.Value)
		switch {
		case len(pages[db]) >= batch:
			return flush(db)
		case held >= copyPageBytes:
			return flushAll()
		}
		return nil
	})
	if err == nil {
		err = flushAll()
	}
	return copied, kept, err
}

// noNotify hears a copy's writes: nobody watches the file copied from or
// to.
type noNotify struct{}

func (noNotify) Reserve() uint64         { return 1 }
func (noNotify) Commit(uint64, []Change) {}
func (noNotify) Lost()                   {}

// blobSource lists the tables of a blob backend that hold blobs.
type blobSource interface {
	BlobBackend
	tables(ctx context.Context) ([]blobTable, error)
}

// copyBlobs copies every blob of src that dest does not have, with its
// own created and updated times; one dest has is kept as it is.
func copyBlobs(ctx context.Context, src blobSource, dest BlobBackend) (copied, kept int, err error) {
	tables, err := src.tables(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range tables {
		keys, err := src.List(ctx, t.database, t.table, "")
		if err != nil {
			return copied, kept, err
		}
		for _, key := range keys {
			switch _, err := dest.Open(ctx, t.database, t.table, key); {
			case err == nil:
				kept++
				continue
			case !stderrors.Is(err, ErrBlobNotFound):
				return copied, kept, err
			}
			if err := copyBlob(ctx, src, dest, t.database, t.table, key); err != nil {
				return copied, kept, fmt.Errorf("store: blob %s/%s/%s: %w", t.database, t.table, key, err)
			}
			copied++
		}
	}
	return copied, kept, nil
}

func copyBlob(ctx context.Context, src, dest BlobBackend, database, table, key string) error {
	r, err := src.Open(ctx, database, table, key)
	if err != nil {
		return err
	}
	info := r.Info()
	info.keepTimes = true
	w, err := dest.Create(ctx, database, table, key, info)
	if err != nil {
		return err
	}
	for {
		chunk, err := r.Next(ctx)
		if err == io.EOF {
			return w.Commit(ctx)
		}
		if err == nil {
			err = w.Write(ctx, chunk)
		}
		if err != nil {
			_ = w.Abort(ctx)
			return err
		}
	}
}
