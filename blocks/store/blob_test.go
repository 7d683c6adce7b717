package store

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// putBlob writes data in messages of step bytes (the whole in one when step
// is 0), the first carrying key and o.
func (e *env) putBlob(ctx context.Context, key string, data []byte, step int, o *pb.BlobOptions) error {
	stream, err := e.blobs.Write(ctx)
	if err != nil {
		return err
	}
	if step <= 0 {
		step = max(len(data), 1)
	}
	first := true
	for len(data) > 0 || first {
		n := min(step, len(data))
		msg := &pb.BlobWriteRequest{Blob: data[:n]}
		if first {
			msg.Key, msg.Options = key, o
		}
		if err := stream.Send(msg); err != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
		data, first = data[n:], false
	}
	_, err = stream.CloseAndRecv()
	return err
}

// getBlob reads a blob and the sizes of the messages it came in.
func (e *env) getBlob(ctx context.Context, key string, o *pb.BlobOptions) ([]byte, []int, error) {
	stream, err := e.blobs.Read(ctx, &pb.BlobReadRequest{Key: key, Options: o})
	if err != nil {
		return nil, nil, err
	}
	var out []byte
	var sizes []int
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return out, sizes, nil
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, m.Blob...)
		sizes = append(sizes, len(m.Blob))
	}
}

// count runs a count(*) query.
func (e *env) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := e.db.Read().QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// chunkRows is the rows the blob tables hold: chunks, and uploads that are
// not some blob's bytes.
func (e *env) chunkRows(t *testing.T) (chunks, notLive int) {
	t.Helper()
	if e.store != nil && !e.sqlite() {
		// The object store's chunk messages; an upload is never stored
		// apart from its blob.
		_, stream, err := e.store.blobs.backend.(*blobJetStream).ready()
		if err != nil {
			t.Fatal(err)
		}
		si, err := stream.Info(t.Context(), jetstream.WithSubjectFilter("$O."+BlobBucket+".C.>"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range si.State.Subjects {
			chunks += int(n)
		}
		return chunks, 0
	}
	return e.count(t, `SELECT count(*) FROM store_blob_chunks`),
		e.count(t, `SELECT count(*) FROM store_blob_uploads WHERE state != 'live'`)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

func wantCode(t *testing.T, what string, err error, code int32) {
	t.Helper()
	if got := errors.Code(err); got != code {
		t.Fatalf("%s: %v (code %d), want %d", what, err, got, code)
	}
}

// TestBlobRoundTrip: bytes come back as written, whatever the message
// sizes they were sent in, cut into chunks of BlobChunkSize; a replace and
// a delete leave no chunks behind.
func TestBlobRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		data := randomBytes(3*BlobChunkSize + 17)

		for _, step := range []int{0, 1000, BlobChunkSize + 1} {
			if err := e.putBlob(ctx, "photos/cat.jpg", data, step, &pb.BlobOptions{ContentType: "image/jpeg"}); err != nil {
				t.Fatalf("write in messages of %d: %v", step, err)
			}
			got, sizes, err := e.getBlob(ctx, "photos/cat.jpg", nil)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read after messages of %d: %d bytes, %v", step, len(got), err)
			}
			if !slices.Equal(sizes, []int{BlobChunkSize, BlobChunkSize, BlobChunkSize, 17}) {
				t.Fatalf("read message sizes %v", sizes)
			}
			// Replacing left only the new bytes.
			if chunks, dead := e.chunkRows(t); chunks != 4 || dead != 0 {
				t.Fatalf("after writes in messages of %d: %d chunks, %d uploads not live; want 4 and 0", step, chunks, dead)
			}
		}

		// An empty blob exists and reads as nothing.
		if err := e.putBlob(ctx, "empty", nil, 0, nil); err != nil {
			t.Fatal(err)
		}
		if got, _, err := e.getBlob(ctx, "empty", nil); err != nil || len(got) != 0 {
			t.Fatalf("empty blob: %q %v", got, err)
		}

		rsp, err := e.blobs.List(ctx, &pb.BlobListRequest{})
		if err != nil || !slices.Equal(rsp.Keys, []string{"empty", "photos/cat.jpg"}) {
			t.Fatalf("list: %v %v", rsp.GetKeys(), err)
		}
		rsp, err = e.blobs.List(ctx, &pb.BlobListRequest{Options: &pb.BlobListOptions{Prefix: "photos/"}})
		if err != nil || !slices.Equal(rsp.Keys, []string{"photos/cat.jpg"}) {
			t.Fatalf("list photos/: %v %v", rsp.GetKeys(), err)
		}

		if _, err := e.blobs.Delete(ctx, &pb.BlobDeleteRequest{Key: "photos/cat.jpg"}); err != nil {
			t.Fatal(err)
		}
		if chunks, dead := e.chunkRows(t); chunks != 0 || dead != 0 {
			t.Fatalf("after delete: %d chunks, %d uploads not live", chunks, dead)
		}
		_, _, err = e.getBlob(ctx, "photos/cat.jpg", nil)
		wantCode(t, "read deleted", err, 404)
		// Deleting what is not there succeeds, as in Micro.
		if _, err := e.blobs.Delete(ctx, &pb.BlobDeleteRequest{Key: "photos/cat.jpg"}); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
	})
}

// TestBlobScopes: blobs live in the caller's namespace and table "micro"
// unless the options say otherwise, as the store's records do; the same
// key in another namespace or table is another blob.
func TestBlobScopes(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		team := inTeam(ctx, "team/user/admin")
		if err := e.putBlob(team, "k", []byte("team's"), 0, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.putBlob(ctx, "k", []byte("micro's"), 0, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.putBlob(ctx, "k", []byte("files'"), 0, &pb.BlobOptions{Table: "files"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			ctx  context.Context
			o    *pb.BlobOptions
			want string
		}{
			{team, nil, "team's"},
			{ctx, nil, "micro's"},
			{ctx, &pb.BlobOptions{Namespace: "team"}, "team's"}, // micro's admin administers every namespace
			{ctx, &pb.BlobOptions{Table: "files"}, "files'"},
			{ctx, &pb.BlobOptions{Namespace: "micro", Table: "micro"}, "micro's"},
		} {
			got, _, err := e.getBlob(c.ctx, "k", c.o)
			if err != nil || string(got) != c.want {
				t.Errorf("read %v: %q %v, want %q", c.o, got, err, c.want)
			}
		}
		// The store's records are not blobs, nor the other way round.
		if keys := e.list(t, ctx, nil); len(keys) != 0 {
			t.Errorf("store keys after blob writes: %v", keys)
		}
	})
}

// TestBlobAccess: every endpoint refuses callers who do not administer the
// namespace, before looking at the request.
func TestBlobAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		if err := e.putBlob(inTeam(ctx, "team/user/admin"), "k", []byte("secret"), 0, nil); err != nil {
			t.Fatal(err)
		}
		for _, caller := range []string{"anonymous", "other/user/admin", "team/user/"} {
			c := inTeam(ctx, caller)
			o := &pb.BlobOptions{Namespace: "team"}
			_, _, err := e.getBlob(c, "k", o)
			wantRefused(t, caller+" read", err)
			wantRefused(t, caller+" write", e.putBlob(c, "k", []byte("x"), 0, o))
			wantRefused(t, caller+" write nothing", e.putBlob(c, "", nil, -1, o))
			_, err = e.blobs.Delete(c, &pb.BlobDeleteRequest{Key: "k", Options: o})
			wantRefused(t, caller+" delete", err)
			_, err = e.blobs.List(c, &pb.BlobListRequest{Options: &pb.BlobListOptions{Namespace: "team"}})
			wantRefused(t, caller+" list", err)
		}
		// An empty stream is refused too, not answered as bad input.
		stream, err := e.blobs.Write(asCaller(ctx, "anonymous"))
		if err == nil {
			_, err = stream.CloseAndRecv()
		}
		wantRefused(t, "anonymous empty stream", err)

		if got, _, err := e.getBlob(inTeam(ctx, "team/user/admin"), "k", nil); err != nil || string(got) != "secret" {
			t.Fatalf("after refused writes and deletes: %q %v", got, err)
		}
		// Without an authorizer everything is refused.
		e2 := newEnvOn(t, openDB(t))
		e2.store.authz = nil
		_, err = e2.blobs.List(ctx, &pb.BlobListRequest{})
		wantRefused(t, "no authorizer", err)
	})
}

// inTeam calls in namespace team as caller (see callerKey).
func inTeam(ctx context.Context, caller string) context.Context {
	return metadata.Set(asCaller(ctx, caller), metadata.Namespace, "team")
}

func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if c := errors.Code(err); c != 401 && c != 403 {
		t.Errorf("%s: %v, want 401 or 403", what, err)
	}
}

// TestBlobLimits: what a caller controls is bounded, and a refused write
// leaves nothing behind.
func TestBlobLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, append(be, WithMaxBlobSize(BlobChunkSize+100))...)
		ctx := t.Context()

		err := e.putBlob(ctx, "big", randomBytes(BlobChunkSize+101), 1000, nil)
		wantCode(t, "over the size limit", err, 413)
		if !strings.Contains(err.Error(), "--blob-max-size") {
			t.Errorf("413 does not say which flag: %v", err)
		}
		if err := e.putBlob(ctx, "fits", randomBytes(BlobChunkSize+100), 0, nil); err != nil {
			t.Fatalf("at the limit: %v", err)
		}
		wantCode(t, "no key", e.putBlob(ctx, "", []byte("x"), 0, nil), 400)
		wantCode(t, "long key", e.putBlob(ctx, strings.Repeat("k", MaxKeySize+1), []byte("x"), 0, nil), 400)
		wantCode(t, "long content type", e.putBlob(ctx, "k", []byte("x"), 0, &pb.BlobOptions{ContentType: strings.Repeat("t", 256)}), 400)
		wantCode(t, "long table", e.putBlob(ctx, "k", []byte("x"), 0, &pb.BlobOptions{Table: strings.Repeat("t", 256)}), 400)
		stream, err := e.blobs.Write(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.CloseAndRecv()
		wantCode(t, "empty stream", err, 400)

		// A second key in the stream is refused, and the first is not written.
		stream, err = e.blobs.Write(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&pb.BlobWriteRequest{Key: "a", Blob: []byte("1")})
		stream.Send(&pb.BlobWriteRequest{Key: "b", Blob: []byte("2")})
		_, err = stream.CloseAndRecv()
		wantCode(t, "two keys", err, 400)

		_, _, err = e.getBlob(ctx, "", nil)
		wantCode(t, "read no key", err, 400)
		_, err = e.blobs.Delete(ctx, &pb.BlobDeleteRequest{})
		wantCode(t, "delete no key", err, 400)

		rsp, err := e.blobs.List(ctx, &pb.BlobListRequest{})
		if err != nil || !slices.Equal(rsp.Keys, []string{"fits"}) {
			t.Fatalf("keys after refused writes: %v %v", rsp.GetKeys(), err)
		}
		if chunks, dead := e.chunkRows(t); chunks != 2 || dead != 0 {
			t.Fatalf("after refused writes: %d chunks, %d uploads not live; want 2 and 0", chunks, dead)
		}
	})
}

// TestBlobWriteCutShort: a client that goes away mid-upload leaves the old
// bytes in place and no chunks behind.
func TestBlobWriteCutShort(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		if err := e.putBlob(t.Context(), "k", []byte("old"), 0, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := e.blobs.Write(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&pb.BlobWriteRequest{Key: "k", Blob: randomBytes(2 * BlobChunkSize)}); err != nil {
			t.Fatal(err)
		}
		// Wait until the server has stored a chunk of it, then hang up.
		testkit.Eventually(t, 10*time.Second, "a chunk of the upload", func() bool { c, _ := e.chunkRows(t); return c > 1 })
		cancel()
		testkit.Eventually(t, 10*time.Second, "the upload's chunks to go", func() bool { c, d := e.chunkRows(t); return c == 1 && d == 0 })
		if got, _, err := e.getBlob(t.Context(), "k", nil); err != nil || string(got) != "old" {
			t.Fatalf("after a cut-short write: %q %v", got, err)
		}
	})
}

// TestBlobCrashRecovery: chunks of an upload a crash cut short are deleted
// at the next start; the blobs that were committed stay.
func TestBlobCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	open := func() *schema.DB {
		db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	e := newEnvOn(t, db)
	ctx := t.Context()
	if err := e.putBlob(ctx, "kept", []byte("kept"), 0, nil); err != nil {
		t.Fatal(err)
	}
	w, err := e.store.blobs.backend.Create(ctx, "micro", "micro", "half", BlobInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, []byte("half an upload")); err != nil {
		t.Fatal(err)
	}
	// The crash: the upload is neither committed nor aborted.
	e.store.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open()
	t.Cleanup(func() { db.Close() })
	s := New(db, auth.Namespaces)
	t.Cleanup(func() { s.Close() })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e2 := &env{db: db}
	testkit.Eventually(t, 10*time.Second, "the abandoned upload's chunks to go", func() bool { c, d := e2.chunkRows(t); return c == 1 && d == 0 })
	r, err := s.blobs.backend.Open(ctx, "micro", "micro", "kept")
	if err != nil {
		t.Fatal(err)
	}
	if chunk, err := r.Next(ctx); err != nil || string(chunk) != "kept" {
		t.Fatalf("kept blob after restart: %q %v", chunk, err)
	}
}

// TestBlobReadWhileReplaced: a reader whose blob is replaced mid-read gets
// a 409 rather than a mix of old and new bytes.
func TestBlobReadWhileReplaced(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		if err := e.putBlob(ctx, "k", randomBytes(2*BlobChunkSize), 0, nil); err != nil {
			t.Fatal(err)
		}
		r, err := e.store.blobs.backend.Open(ctx, "micro", "micro", "k")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.putBlob(ctx, "k", []byte("new"), 0, nil); err != nil {
			t.Fatal(err)
		}
		_, err = r.Next(ctx)
		if err != ErrBlobChanged {
			t.Fatalf("next chunk after a replace: %v, want ErrBlobChanged", err)
		}
		wantCode(t, "answer", e.store.blobs.failed(ctx, "read", err), 409)
	})
}

// TestBlobDiskFull: with the file at its size cap (--max-db-size) a write
// is a 507 and leaves nothing behind, a delete still runs and frees the
// room for the write.
func TestBlobDiskFull(t *testing.T) {
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}, MaxSize: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvOn(t, db)
	ctx := t.Context()
	if err := e.putBlob(ctx, "first", randomBytes(2<<20), 0, nil); err != nil {
		t.Fatal(err)
	}
	err = e.putBlob(ctx, "second", randomBytes(2<<20), 0, nil)
	wantCode(t, "write past the cap", err, 507)
	if chunks, dead := e.chunkRows(t); chunks != 8 || dead != 0 {
		t.Fatalf("after a refused write: %d chunks, %d uploads not live; want 8 and 0", chunks, dead)
	}
	if _, err := e.blobs.Delete(ctx, &pb.BlobDeleteRequest{Key: "first"}); err != nil {
		t.Fatalf("delete when full: %v", err)
	}
	if err := e.putBlob(ctx, "second", randomBytes(2<<20), 0, nil); err != nil {
		t.Fatalf("write after the delete freed room: %v", err)
	}
}

// TestBlobPurgeIdle: with nothing to purge, Purge (run by the sweeper and
// after every blob write) does not take the writer.
func TestBlobPurgeIdle(t *testing.T) {
	var writes atomic.Int64
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}, Observe: func(b schema.WriteBatch) { writes.Add(int64(b.Writes)) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvOn(t, db)
	if err := e.putBlob(t.Context(), "k", []byte("v"), 0, nil); err != nil {
		t.Fatal(err)
	}
	before := writes.Load()
	if n, err := e.store.blobs.backend.Purge(t.Context()); err != nil || n != 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if after := writes.Load(); after != before {
		t.Fatalf("an idle purge made %d writes", after-before)
	}
}

// TestBlobTimes: a blob keeps its created time when replaced and its
// updated time moves, the same on both backends; a delete starts afresh.
// Times a caller passes to Create are ignored, but for a copy's, which
// are written as given and kept by the copy's next replace only in part
// (created).
func TestBlobTimes(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		bb := e.store.blobs.backend
		put := func(key, data string) BlobInfo {
			t.Helper()
			// SQLite's clock is the test's; the JetStream server's moves on
			// its own.
			e.clock.Advance(time.Second)
			if err := e.putBlob(ctx, key, []byte(data), 0, nil); err != nil {
				t.Fatal(err)
			}
			return blobInfo(t, ctx, bb, "micro", "micro", key)
		}

		first := put("a", "one")
		if first.Created.IsZero() || !first.Updated.Equal(first.Created) {
			t.Fatalf("a new blob: created %v updated %v; want equal", first.Created, first.Updated)
		}
		second := put("a", "two")
		if !second.Created.Equal(first.Created) || !second.Updated.After(first.Updated) {
			t.Fatalf("replaced: created %v updated %v; want created %v and updated after %v",
				second.Created, second.Updated, first.Created, first.Updated)
		}
		if found, err := bb.Delete(ctx, "micro", "micro", "a"); err != nil || !found {
			t.Fatalf("delete: %v %v", found, err)
		}
		if again := put("a", "three"); !again.Created.After(second.Updated) || !again.Updated.Equal(again.Created) {
			t.Fatalf("written again after a delete: created %v updated %v; want new and equal", again.Created, again.Updated)
		}

		past := time.Unix(1_600_000_000, 0)
		writeBlob(t, ctx, bb, "micro", "micro", "b", BlobInfo{Created: past, Updated: past}, "x")
		if got := blobInfo(t, ctx, bb, "micro", "micro", "b"); got.Created.Equal(past) || got.Updated.Equal(past) {
			t.Fatalf("a caller set a blob's times: %+v", got)
		}

		copied := BlobInfo{Created: past, Updated: past.Add(time.Hour), keepTimes: true}
		writeBlob(t, ctx, bb, "micro", "micro", "c", copied, "x")
		sameBlobTimes(t, "a copy", blobInfo(t, ctx, bb, "micro", "micro", "c"), copied)
		if got := put("c", "y"); !got.Created.Equal(past) || !got.Updated.After(copied.Updated) {
			t.Fatalf("a copy replaced: created %v updated %v; want %v and later than %v", got.Created, got.Updated, past, copied.Updated)
		}
	})
}
