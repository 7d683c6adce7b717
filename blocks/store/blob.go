package store

import (
	"context"
	stderrors "errors"
	"io"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// Limits on blobs. A Write message is bounded by gRPC's message limit (32
// MiB, codec.MaxMessageSize) before any of it reaches the handler.
const (
	// DefaultMaxBlobSize is the largest blob unless WithMaxBlobSize says
	// otherwise (micro server --blob-max-size).
	DefaultMaxBlobSize = 256 << 20
	// BlobChunkSize is how the server cuts a blob, whatever the sizes of
	// the messages it came in: one stored row, and one Read message.
	BlobChunkSize = 256 << 10
	// maxContentType bounds a blob's content type.
	maxContentType = 255
)

const blobErrID = "store.Blob"

// Blobs is the store block's BlobStore service: Micro's store.BlobStore,
// with blobs scoped as records are (the namespace is the database, the
// table defaults to "micro") and admitted by the same rule.
type Blobs struct {
	pb.UnimplementedBlobStoreServer

	s       *Store // scope, authorizer, logger
	backend BlobBackend
	maxSize int64
}

// Read streams a blob in chunks of at most BlobChunkSize.
func (b *Blobs) Read(req *pb.BlobReadRequest, stream grpc.ServerStreamingServer[pb.BlobReadResponse]) error {
	ctx := stream.Context()
	o := req.GetOptions()
	database, table, err := b.s.scope(ctx, o.GetNamespace(), o.GetTable())
	if err != nil {
		return err
	}
	if err := checkBlobKey(req.GetKey()); err != nil {
		return err
	}
	r, err := b.backend.Open(ctx, database, table, req.GetKey())
	if err != nil {
		return b.failed(ctx, "read", err)
	}
	for {
		chunk, err := r.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return b.failed(ctx, "read", err)
		}
		if err := stream.Send(&pb.BlobReadResponse{Blob: chunk}); err != nil {
			return err
		}
	}
}

// Write takes a blob in chunks: the first message names the key and the
// options (later messages may repeat the key; their options are ignored,
// as in Micro). The blob replaces the key's old one when the stream ends.
func (b *Blobs) Write(stream grpc.ClientStreamingServer[pb.BlobWriteRequest, pb.BlobWriteResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err == io.EOF {
		// Checked first all the same: who may not write learns nothing.
		if _, _, err := b.s.scope(ctx, "", ""); err != nil {
			return err
		}
		return errors.BadRequest(blobErrID, "no blob was sent: the first message must carry the key")
	}
	if err != nil {
		return err
	}
	o := first.GetOptions()
	database, table, err := b.s.scope(ctx, o.GetNamespace(), o.GetTable())
	if err != nil {
		return err
	}
	key := first.GetKey()
	if err := checkBlobKey(key); err != nil {
		return err
	}
	if n := len(o.GetContentType()); n > maxContentType {
		return errors.BadRequest(blobErrID, "content type is %d bytes; the limit is %d", n, maxContentType)
	}
	info := BlobInfo{ContentType: o.GetContentType(), Public: o.GetPublic()}
	w, err := b.backend.Create(ctx, database, table, key, info)
	if err != nil {
		return b.failed(ctx, "write", err)
	}
	if err := b.receive(ctx, stream, w, first); err != nil {
		// The stream's context may have ended: give the upload up anyway.
		if aerr := w.Abort(context.WithoutCancel(ctx)); aerr != nil {
			b.s.log.Warn("store: giving up a blob upload failed; the next purge retries", "err", aerr)
		}
		b.purge(context.WithoutCancel(ctx))
		return b.failed(ctx, "write", err)
	}
	if err := w.Commit(ctx); err != nil {
		w.Abort(context.WithoutCancel(ctx))
		b.purge(context.WithoutCancel(ctx))
		return b.failed(ctx, "write", err)
	}
	b.purge(context.WithoutCancel(ctx)) // the bytes it replaced
	return stream.SendAndClose(&pb.BlobWriteResponse{})
}

// receive writes the stream's bytes, from first on, to w in chunks of
// BlobChunkSize: memory holds at most one chunk and one message.
func (b *Blobs) receive(ctx context.Context, stream grpc.ClientStreamingServer[pb.BlobWriteRequest, pb.BlobWriteResponse], w BlobWriter, first *pb.BlobWriteRequest) error {
	buf := make([]byte, 0, BlobChunkSize)
	var size int64
	msg := first
	for {
		data := msg.GetBlob()
		size += int64(len(data))
		if size > b.maxSize {
			return errors.TooLarge(blobErrID, "blob %q is larger than the limit of %d bytes (micro server --blob-max-size)", first.GetKey(), b.maxSize)
		}
		for len(data) > 0 {
			n := min(len(data), BlobChunkSize-len(buf))
			buf, data = append(buf, data[:n]...), data[n:]
			if len(buf) == BlobChunkSize {
				if err := w.Write(ctx, buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		var err error
		msg, err = stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if k := msg.GetKey(); k != "" && k != first.GetKey() {
			return errors.BadRequest(blobErrID, "one Write stream writes one blob: key %q after %q", k, first.GetKey())
		}
	}
	if len(buf) > 0 {
		return w.Write(ctx, buf)
	}
	return nil
}

// Delete removes a blob. Deleting a missing blob succeeds, as in Micro.
// It frees space: it runs when the disk is full.
func (b *Blobs) Delete(ctx context.Context, req *pb.BlobDeleteRequest) (*pb.BlobDeleteResponse, error) {
	o := req.GetOptions()
	database, table, err := b.s.scope(ctx, o.GetNamespace(), o.GetTable())
	if err != nil {
		return nil, err
	}
	if err := checkBlobKey(req.GetKey()); err != nil {
		return nil, err
	}
	found, err := b.backend.Delete(schema.Freeing(ctx), database, table, req.GetKey())
	if err != nil {
		return nil, b.failed(ctx, "delete", err)
	}
	if found {
		b.purge(context.WithoutCancel(ctx))
	}
	return &pb.BlobDeleteResponse{}, nil
}

// List returns the keys of a table's blobs, starting with options.prefix.
func (b *Blobs) List(ctx context.Context, req *pb.BlobListRequest) (*pb.BlobListResponse, error) {
	o := req.GetOptions()
	database, table, err := b.s.scope(ctx, o.GetNamespace(), o.GetTable())
	if err != nil {
		return nil, err
	}
	if err := checkKey("prefix", o.GetPrefix()); err != nil {
		return nil, err
	}
	keys, err := b.backend.List(ctx, database, table, o.GetPrefix())
	if err != nil {
		return nil, b.failed(ctx, "list", err)
	}
	return &pb.BlobListResponse{Keys: keys}, nil
}

// purge deletes the chunks no blob has any more. Calls purge when they
// are done, rather than leave it to the next sweep, so that a delete has
// freed its space when it answers; they pass a context that the caller
// going away does not end. A failure is logged: the sweeper tries again.
func (b *Blobs) purge(ctx context.Context) {
	if _, err := b.backend.Purge(ctx); err != nil && ctx.Err() == nil {
		b.s.log.Warn("store: purging deleted blob chunks failed; the sweeper retries", "err", err)
	}
}

func checkBlobKey(key string) error {
	if key == "" {
		return errors.BadRequest(blobErrID, "key is required")
	}
	return checkKey("key", key)
}

// failed answers for a backend error as the store does; a missing blob is
// a 404 and one changed while read a 409, worth reading again.
func (b *Blobs) failed(ctx context.Context, op string, err error) error {
	switch {
	case stderrors.Is(err, ErrBlobNotFound):
		return errors.NotFound(blobErrID, "blob not found")
	case stderrors.Is(err, ErrBlobChanged):
		return errors.Conflict(blobErrID, "the blob was replaced or deleted while it was read; read it again")
	}
	return b.s.failed(ctx, "blob "+op, err)
}
