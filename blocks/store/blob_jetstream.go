package store

import (
	"cmp"
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

// BlobBucket is the blobs' JetStream object store in a cluster.
const BlobBucket = "micro_blobs"

const (
	// orphanAge is how long chunks no blob names stay before Purge deletes
	// them: an upload in progress on another node writes chunks no blob
	// names yet, and its chunks are younger than this.
	orphanAge = time.Hour
	// orphanScanEvery spaces the scans for orphaned chunks: Purge runs
	// after every write, the scan reads the whole bucket's metadata.
	orphanScanEvery = 10 * time.Minute
	metaPublic      = "public"
	// metaCreated is a blob's created time (unix ns) when it is not the
	// object's ModTime: a blob that replaced another keeps the first's,
	// and a copied one its source's. metaUpdated is a copied blob's
	// updated time; any other's is the ModTime.
	metaCreated = "created"
	metaUpdated = "updated"
)

// blobJetStream keeps blobs in a JetStream object store, one object per
// blob (name: database.table.key, each an encoded token), streamed in
// chunks of BlobChunkSize. An upload writes its chunks under a fresh id
// and then, in one message, the object's metadata naming them: readers see
// the old bytes until then, and the new ones after. The old chunks are
// purged then, so a reader of the old bytes gets ErrBlobChanged (409) at
// its next chunk, as on SQLite.
type blobJetStream struct {
	js       jetstream.JetStream
	replicas int

	mu       sync.Mutex
	obs      jetstream.ObjectStore
	stream   jetstream.Stream
	lastScan time.Time
}

func newBlobJetStream(js jetstream.JetStream, replicas int) *blobJetStream {
	return &blobJetStream{js: js, replicas: max(replicas, 1)}
}

// start creates or binds the object store.
func (b *blobJetStream) start(ctx context.Context) error {
	obs, stream, err := jsstorage.ObjectStore(ctx, b.js, jetstream.ObjectStoreConfig{Bucket: BlobBucket,
		Description: "micro store: blobs", Storage: jetstream.FileStorage, Replicas: b.replicas})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	b.mu.Lock()
	b.obs, b.stream = obs, stream
	b.mu.Unlock()
	return nil
}

func (b *blobJetStream) ready() (jetstream.ObjectStore, jetstream.Stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.obs == nil {
		return nil, nil, stderrors.New("store: blobs not started")
	}
	return b.obs, b.stream, nil
}

func blobName(database, table, key string) string { return recordKey(database, table, key) }

func (b *blobJetStream) Create(ctx context.Context, database, table, key string, info BlobInfo) (BlobWriter, error) {
	obs, _, err := b.ready()
	if err != nil {
		return nil, err
	}
	meta := jetstream.ObjectMeta{Name: blobName(database, table, key),
		Metadata: map[string]string{metaPublic: strconv.FormatBool(info.Public)},
		Opts:     &jetstream.ObjectMetaOptions{ChunkSize: BlobChunkSize}}
	if info.keepTimes && !info.Created.IsZero() {
		meta.Metadata[metaCreated] = strconv.FormatInt(info.Created.UnixNano(), 10)
		meta.Metadata[metaUpdated] = strconv.FormatInt(info.Updated.UnixNano(), 10)
	} else {
		// A replace keeps the blob's created time, as on SQLite. It is
		// read now, as Put reads the object it replaces: a writer racing
		// this upload for the key may have its created time lost.
		old, err := obs.GetInfo(ctx, meta.Name)
		switch {
		case err == nil:
			created, _, err := blobTimes(old)
			if err != nil {
				return nil, err
			}
			meta.Metadata[metaCreated] = strconv.FormatInt(created.UnixNano(), 10)
		case !stderrors.Is(err, jetstream.ErrObjectNotFound):
			return nil, err
		}
	}
	if info.ContentType != "" {
		meta.Headers = map[string][]string{"Content-Type": {info.ContentType}}
	}
	pr, pw := io.Pipe()
	w := &blobJSUpload{pw: pw, done: make(chan error, 1)}
	// The upload runs as the chunks come: Put reads them from the pipe,
	// and writes the metadata when the pipe closes.
	go func() {
		_, err := obs.Put(context.WithoutCancel(ctx), meta, pr)
		pr.CloseWithError(err) // a Write waiting on a failed Put returns
		w.done <- err
	}()
	return w, nil
}

// blobJSUpload is an upload in progress: a Put reading from the pipe.
type blobJSUpload struct {
	pw   *io.PipeWriter
	done chan error
}

func (w *blobJSUpload) Write(ctx context.Context, chunk []byte) error {
	_, err := w.pw.Write(chunk)
	return err
}

func (w *blobJSUpload) Commit(ctx context.Context) error {
	if err := w.pw.Close(); err != nil {
		return err
	}
	return <-w.done
}

// Abort fails the Put, which purges the chunks it wrote.
func (w *blobJSUpload) Abort(ctx context.Context) error {
	_ = w.pw.CloseWithError(stderrors.New("upload given up"))
	if err := <-w.done; err != nil && !strings.Contains(err.Error(), "upload given up") {
		return err
	}
	return nil
}

func (b *blobJetStream) Open(ctx context.Context, database, table, key string) (BlobReader, error) {
	obs, stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	oi, err := obs.GetInfo(ctx, blobName(database, table, key))
	if stderrors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, err
	}
	info := BlobInfo{Size: int64(oi.Size), Public: oi.Metadata[metaPublic] == "true"}
	if info.Created, info.Updated, err = blobTimes(oi); err != nil {
		return nil, err
	}
	if oi.Headers != nil {
		info.ContentType = oi.Headers.Get("Content-Type")
	}
	return &blobJSReader{stream: stream, subject: "$O." + BlobBucket + ".C." + oi.NUID, chunks: oi.Chunks, info: info, seq: 1}, nil
}

// blobTimes returns a blob's created and updated times: the object's
// ModTime unless its metadata says otherwise.
func blobTimes(oi *jetstream.ObjectInfo) (created, updated time.Time, err error) {
	created, updated = oi.ModTime, oi.ModTime
	for name, t := range map[string]*time.Time{metaCreated: &created, metaUpdated: &updated} {
		v, ok := oi.Metadata[name]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return created, updated, fmt.Errorf("blob %q: metadata %s: %w", oi.Name, name, err)
		}
		*t = time.Unix(0, n)
	}
	return created, updated, nil
}

// blobJSReader reads chunk by chunk, each a get of its own: the next
// message on the object's chunk subject.
type blobJSReader struct {
	stream       jetstream.Stream
	subject      string
	chunks, read uint32
	seq          uint64
	info         BlobInfo
}

func (r *blobJSReader) Info() BlobInfo { return r.info }

func (r *blobJSReader) Next(ctx context.Context) ([]byte, error) {
	if r.read >= r.chunks {
		return nil, io.EOF
	}
	m, err := r.stream.GetMsg(ctx, r.seq, jetstream.WithGetMsgSubject(r.subject))
	if stderrors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrBlobChanged // its chunks were purged: replaced or deleted
	}
	if err != nil {
		return nil, err
	}
	r.read++
	r.seq = m.Sequence + 1
	return m.Data, nil
}

func (b *blobJetStream) Delete(ctx context.Context, database, table, key string) (bool, error) {
	obs, _, err := b.ready()
	if err != nil {
		return false, err
	}
	err = obs.Delete(ctx, blobName(database, table, key))
	if stderrors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (b *blobJetStream) List(ctx context.Context, database, table, prefix string) ([]string, error) {
	var keys []string
	err := b.each(ctx, func(db, tbl, key string) {
		if db == database && tbl == table && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	})
	slices.Sort(keys)
	return keys, err
}

// each calls fn with every blob's database, table and key, in no order.
func (b *blobJetStream) each(ctx context.Context, fn func(database, table, key string)) error {
	obs, _, err := b.ready()
	if err != nil {
		return err
	}
	infos, err := obs.List(ctx)
	if stderrors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, oi := range infos {
		if db, tbl, key, err := splitKey(oi.Name); err == nil {
			fn(db, tbl, key)
		}
	}
	return nil
}

// tables returns the tables holding a blob, in order.
func (b *blobJetStream) tables(ctx context.Context) ([]blobTable, error) {
	seen := map[blobTable]bool{}
	var out []blobTable
	err := b.each(ctx, func(db, tbl, _ string) {
		if !seen[blobTable{db, tbl}] {
			seen[blobTable{db, tbl}] = true
			out = append(out, blobTable{db, tbl})
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y blobTable) int {
		return cmp.Or(strings.Compare(x.database, y.database), strings.Compare(x.table, y.table))
	})
	return out, nil
}

// Abandon does nothing: uploads on other nodes may be in progress, and an
// upload this node's crash cut short is an orphan Purge deletes.
func (b *blobJetStream) Abandon(context.Context) error { return nil }

// Purge deletes, every orphanScanEvery at most, the chunks no blob names
// that are older than orphanAge: what a crash or two writers racing for
// one key left. Replaced and deleted blobs' chunks go at once.
func (b *blobJetStream) Purge(ctx context.Context) (int64, error) {
	obs, stream, err := b.ready()
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	due := time.Since(b.lastScan) >= orphanScanEvery
	if due {
		b.lastScan = time.Now()
	}
	b.mu.Unlock()
	if !due {
		return 0, nil
	}
	named := map[string]bool{}
	infos, err := obs.List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !stderrors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, err
	}
	for _, oi := range infos {
		if !oi.Deleted {
			named[oi.NUID] = true
		}
	}
	si, err := stream.Info(ctx, jetstream.WithSubjectFilter("$O."+BlobBucket+".C.>"))
	if err != nil {
		return 0, err
	}
	var purged int64
	for subj, n := range si.State.Subjects {
		if named[strings.TrimPrefix(subj, "$O."+BlobBucket+".C.")] {
			continue
		}
		last, err := stream.GetLastMsgForSubject(ctx, subj)
		if err != nil || time.Since(last.Time) < orphanAge {
			continue
		}
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return purged, err
		}
		purged += int64(n)
	}
	return purged, nil
}
