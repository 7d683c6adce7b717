package store

import (
	"bytes"
	"context"
	"io"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// ErrMissingKey is what a blob call without a key returns, as in Micro.
var ErrMissingKey = errors.BadRequest(errID, "missing key")

// BlobStore is Micro's blob store: larger opaque values, streamed to and
// from the store block in chunks. Blobs live in the caller's namespace (a
// store database) and table "micro" unless the options say otherwise; every
// service of a namespace, and `micro blob`, see the same blobs.
type BlobStore interface {
	// Read returns a blob's bytes, or ErrNotFound. They are gathered in
	// memory before Read returns, as Micro's were.
	Read(key string, opts ...BlobOption) (io.Reader, error)
	// Write stores what blob yields until io.EOF under key, replacing any
	// blob of that key once all of it has arrived.
	Write(key string, blob io.Reader, opts ...BlobOption) error
	// Delete removes a blob; deleting a missing blob succeeds.
	Delete(key string, opts ...BlobOption) error
	// List returns the keys of the blobs, in order; none is an empty list.
	List(opts ...BlobListOption) ([]string, error)
}

// BlobOptions configure one blob call.
type BlobOptions struct {
	// Namespace is the store database; default the caller's namespace.
	Namespace string
	// Public and ContentType are kept with the blob, as in Micro.
	Public      bool
	ContentType string
	// Table partitions the namespace; default "micro".
	Table string
}

// BlobOption sets a BlobOptions field.
type BlobOption func(*BlobOptions)

// BlobNamespace uses namespace ns instead of the caller's.
func BlobNamespace(ns string) BlobOption { return func(o *BlobOptions) { o.Namespace = ns } }

// BlobPublic sets the Public option.
func BlobPublic(p bool) BlobOption { return func(o *BlobOptions) { o.Public = p } }

// BlobContentType sets the ContentType option.
func BlobContentType(ct string) BlobOption { return func(o *BlobOptions) { o.ContentType = ct } }

// BlobTable uses table t instead of "micro".
func BlobTable(t string) BlobOption { return func(o *BlobOptions) { o.Table = t } }

// BlobListOptions configure one List.
type BlobListOptions struct {
	Namespace string
	// Prefix lists only keys starting with it.
	Prefix string
	Table  string
}

// BlobListOption sets a BlobListOptions field.
type BlobListOption func(*BlobListOptions)

// BlobListNamespace lists namespace ns instead of the caller's.
func BlobListNamespace(ns string) BlobListOption {
	return func(o *BlobListOptions) { o.Namespace = ns }
}

// BlobListPrefix lists only keys starting with p.
func BlobListPrefix(p string) BlobListOption { return func(o *BlobListOptions) { o.Prefix = p } }

// BlobListTable lists table t instead of "micro".
func BlobListTable(t string) BlobListOption { return func(o *BlobListOptions) { o.Table = t } }

// blobChunk is how much of a blob one Write message carries.
const blobChunk = 64 << 10

// DefaultBlobStore is the blob store inside a service: it calls through
// the service's client (client.Default) at each call, as Micro's did.
var DefaultBlobStore BlobStore = defaultBlobs{}

// defaultBlobs is a BlobStore over whichever client is the default when
// it is called.
type defaultBlobs struct{}

func (defaultBlobs) store() (BlobStore, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewBlobStore(c), nil
}

func (d defaultBlobs) Read(key string, opts ...BlobOption) (io.Reader, error) {
	b, err := d.store()
	if err != nil {
		return nil, err
	}
	return b.Read(key, opts...)
}

func (d defaultBlobs) Write(key string, blob io.Reader, opts ...BlobOption) error {
	b, err := d.store()
	if err != nil {
		return err
	}
	return b.Write(key, blob, opts...)
}

func (d defaultBlobs) Delete(key string, opts ...BlobOption) error {
	b, err := d.store()
	if err != nil {
		return err
	}
	return b.Delete(key, opts...)
}

func (d defaultBlobs) List(opts ...BlobListOption) ([]string, error) {
	b, err := d.store()
	if err != nil {
		return nil, err
	}
	return b.List(opts...)
}

// rpcBlobs calls the store block's BlobStore service.
type rpcBlobs struct{ c client.Client }

// NewBlobStore returns a BlobStore calling the store block through c.
func NewBlobStore(c client.Client) BlobStore { return &rpcBlobs{c: c} }

func blobOptions(opts []BlobOption) *pb.BlobOptions {
	var o BlobOptions
	for _, opt := range opts {
		opt(&o)
	}
	return &pb.BlobOptions{Namespace: o.Namespace, Public: o.Public, ContentType: o.ContentType, Table: o.Table}
}

func (b *rpcBlobs) Read(key string, opts ...BlobOption) (io.Reader, error) {
	if key == "" {
		return nil, ErrMissingKey
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &pb.BlobReadRequest{Key: key, Options: blobOptions(opts)}
	stream, err := b.c.Stream(ctx, b.c.NewRequest("store", "BlobStore.Read", req))
	if err != nil {
		return nil, err
	}
	if err := stream.Send(req); err != nil && err != io.EOF {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for {
		var rsp pb.BlobReadResponse
		err := stream.Recv(&rsp)
		if err == io.EOF {
			return &buf, nil
		}
		if err != nil {
			if errors.Code(err) == 404 {
				return nil, ErrNotFound
			}
			return nil, err
		}
		buf.Write(rsp.Blob)
	}
}

func (b *rpcBlobs) Write(key string, blob io.Reader, opts ...BlobOption) error {
	if key == "" {
		return ErrMissingKey
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the stream, so a failed Write stores nothing
	msg := &pb.BlobWriteRequest{Key: key, Options: blobOptions(opts)}
	stream, err := b.c.Stream(ctx, b.c.NewRequest("store", "BlobStore.Write", msg))
	if err != nil {
		return err
	}
	buf := make([]byte, blobChunk)
	for {
		n, rerr := io.ReadFull(blob, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return rerr
		}
		// The first message goes even when empty: it names the key.
		if n > 0 || msg.Key != "" {
			msg.Blob = buf[:n]
			if err := stream.Send(msg); err != nil {
				if err == io.EOF {
					break // the server ended the stream: Recv says why
				}
				return err
			}
			msg = &pb.BlobWriteRequest{}
		}
		if rerr != nil {
			break
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	var rsp pb.BlobWriteResponse
	return stream.Recv(&rsp)
}

func (b *rpcBlobs) Delete(key string, opts ...BlobOption) error {
	if key == "" {
		return ErrMissingKey
	}
	return b.c.Call(context.Background(), b.c.NewRequest("store", "BlobStore.Delete",
		&pb.BlobDeleteRequest{Key: key, Options: blobOptions(opts)}), new(pb.BlobDeleteResponse))
}

func (b *rpcBlobs) List(opts ...BlobListOption) ([]string, error) {
	var o BlobListOptions
	for _, opt := range opts {
		opt(&o)
	}
	rsp := new(pb.BlobListResponse)
	err := b.c.Call(context.Background(), b.c.NewRequest("store", "BlobStore.List",
		&pb.BlobListRequest{Options: &pb.BlobListOptions{Namespace: o.Namespace, Prefix: o.Prefix, Table: o.Table}}), rsp)
	if err != nil {
		return nil, err
	}
	if rsp.Keys == nil {
		return []string{}, nil
	}
	return rsp.Keys, nil
}
