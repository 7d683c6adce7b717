// Command files is a Micro v3 service that keeps files in the blob store
// (store.DefaultBlobStore). Its Go is Micro's but for the import paths:
// github.com/micro/micro/v3/service/... became micro.dev/micro/framework/...
// e2e/blob_test.go runs it with `micro run`, uploads to it through the
// gateway (JSON and multipart/form-data) and checks what it stored with
// `micro blob`.
package main

import (
	"bytes"
	"context"
	"io/ioutil"
	"log"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/framework/store"
)

type Files struct{}

type UploadRequest struct {
	Name string `json:"name"`
	File []byte `json:"file"`
}

type UploadResponse struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// Upload stores the file under its name.
func (f *Files) Upload(ctx context.Context, req *UploadRequest, rsp *UploadResponse) error {
	if len(req.Name) == 0 {
		return errors.BadRequest("files.Upload", "name is required")
	}
	if err := store.DefaultBlobStore.Write(req.Name, bytes.NewReader(req.File), store.BlobContentType("application/octet-stream")); err != nil {
		return err
	}
	rsp.Name = req.Name
	rsp.Size = len(req.File)
	return nil
}

type DownloadRequest struct {
	Name string `json:"name"`
}

type DownloadResponse struct {
	File []byte `json:"file"`
}

// Download returns a file's bytes.
func (f *Files) Download(ctx context.Context, req *DownloadRequest, rsp *DownloadResponse) error {
	r, err := store.DefaultBlobStore.Read(req.Name)
	if err == store.ErrNotFound {
		return errors.NotFound("files.Download", "no file %s", req.Name)
	} else if err != nil {
		return err
	}
	b, err := ioutil.ReadAll(r)
	if err != nil {
		return err
	}
	rsp.File = b
	return nil
}

type ListRequest struct {
	Prefix string `json:"prefix"`
}

type ListResponse struct {
	Names []string `json:"names"`
}

// List returns the names of the files starting with the prefix.
func (f *Files) List(ctx context.Context, req *ListRequest, rsp *ListResponse) error {
	keys, err := store.DefaultBlobStore.List(store.BlobListPrefix(req.Prefix))
	if err != nil {
		return err
	}
	rsp.Names = keys
	return nil
}

type DeleteRequest struct {
	Name string `json:"name"`
}

type DeleteResponse struct{}

// Delete removes a file.
func (f *Files) Delete(ctx context.Context, req *DeleteRequest, rsp *DeleteResponse) error {
	return store.DefaultBlobStore.Delete(req.Name)
}

func main() {
	srv := service.New(service.Name("files"))
	srv.Handle(new(Files))
	if err := srv.Run(); err != nil {
		log.Fatal(err)
	}
}
