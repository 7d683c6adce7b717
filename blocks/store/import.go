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
	src := newSQLite(from, s.now, s.hub) // only read: the hub hears nothing
	dbs, err := src.Databases(ctx)
	if err != nil {
		return 0, 0, err
	}
	absent := int64(0)
	for _, db := range dbs {
		tables, err := src.Tables(ctx, db)
		if err != nil {
			return copied, kept, err
		}
		for _, table := range tables {
			for offset := uint64(0); ; offset += importPage {
				recs, err := src.Read(ctx, db, table, Query{Limit: importPage, Offset: offset})
				if err != nil {
					return copied, kept, err
				}
				for _, r := range recs {
					_, err := dest.Batch(ctx, db, []Op{{Table: table, Write: &r, IfRevision: &absent, keepTimes: true}})
					var mismatch *RevisionMismatch
					switch {
					case err == nil:
						copied++
					case stderrors.As(err, &mismatch):
						kept++
					default:
						return copied, kept, fmt.Errorf("store: %s/%s/%s: %w", db, table, r.Key, err)
					}
				}
				if len(recs) < importPage {
					break
				}
			}
		}
	}
	c, k, err := s.importBlobs(ctx, newBlobSQLite(from, s.now))
	return copied + c, kept + k, err
}

// importBlobs copies every blob of src the store does not have.
func (s *Store) importBlobs(ctx context.Context, src *blobSQLite) (copied, kept int, err error) {
	dest := s.blobs.backend
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
	w, err := dest.Create(ctx, database, table, key, r.Info())
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
