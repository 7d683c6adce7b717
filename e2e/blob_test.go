//go:build unix

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// TestBlobStoreService: a Micro v3 service using store.DefaultBlobStore
// (testdata/files, Micro's Go but for import paths) runs with micro run;
// files uploaded to it through the gateway, as JSON and as a multipart
// form, are the blobs micro blob get returns, and blobs micro blob put
// stores are what it serves. micro blob ls and rm see and remove the same
// blobs. Limits: --blob-max-size (413 from the CLI) and the gateway's body
// limit (413 for a multipart form over it).
func TestBlobStoreService(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--blob-max-size", "2MB")
	c := newAdminCLI(t, s)
	files, err := filepath.Abs("../testdata/files")
	if err != nil {
		t.Fatal(err)
	}
	c.ok("run", files)
	waitStatus(t, c, "files", "running")
	call := func(endpoint, body string) (int, string) {
		code, out, _ := post(t, s.gateway+"/files/Files/"+endpoint, "application/json", body)
		return code, out
	}
	testkit.Eventually(t, 60*time.Second, "files to answer through the gateway", func() bool {
		code, _ := call("List", `{}`)
		return code == 200
	})

	// A multipart upload through the gateway: the form's file is the
	// service's []byte field.
	photo := make([]byte, 700_000)
	rand.NewChaCha8([32]byte{7}).Read(photo)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("name", "photos/cat.jpg")
	fw, _ := mw.CreateFormFile("file", "cat.jpg")
	fw.Write(photo)
	mw.Close()
	code, out, _ := post(t, s.gateway+"/files/Files/Upload", mw.FormDataContentType(), form.String())
	if code != 200 || out != `{"name":"photos/cat.jpg","size":700000}` {
		t.Fatalf("multipart upload: %d %s", code, out)
	}
	// And JSON, bytes as base64.
	if code, out := call("Upload", `{"name":"notes/a.txt","file":"`+base64.StdEncoding.EncodeToString([]byte("hello blob"))+`"}`); code != 200 {
		t.Fatalf("JSON upload: %d %s", code, out)
	}

	// The CLI sees the service's blobs: same namespace, table "micro".
	if got := c.ok("blob", "ls"); got != "notes/a.txt\nphotos/cat.jpg\n" {
		t.Fatalf("micro blob ls: %q", got)
	}
	if got := c.ok("blob", "ls", "photos/"); got != "photos/cat.jpg\n" {
		t.Fatalf("micro blob ls photos/: %q", got)
	}
	dest := filepath.Join(t.TempDir(), "cat.jpg")
	c.ok("blob", "get", "photos/cat.jpg", dest)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, photo) {
		t.Fatalf("micro blob get to a file: %d bytes, want the %d uploaded", len(got), len(photo))
	}
	if got := c.ok("blob", "get", "notes/a.txt"); got != "hello blob" {
		t.Fatalf("micro blob get to stdout: %q", got)
	}

	// What micro blob put stores, the service serves.
	src := filepath.Join(t.TempDir(), "report.bin")
	report := bytes.Repeat([]byte{0, 1, 2, 0xff}, 300_000) // 1.2 MB: several messages
	if err := os.WriteFile(src, report, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("blob", "put", "reports/q1.bin", src)
	code, out = call("Download", `{"name":"reports/q1.bin"}`)
	var dl struct {
		File []byte `json:"file"`
	}
	if code != 200 || json.Unmarshal([]byte(out), &dl) != nil || !bytes.Equal(dl.File, report) {
		t.Fatalf("download of a blob micro blob put stored: %d, %d bytes", code, len(dl.File))
	}
	if _, errOut, code := c.runIn("from stdin", "blob", "put", "notes/b.txt", "-"); code != 0 {
		t.Fatalf("micro blob put from stdin: %d %s", code, errOut)
	}
	if code, out := call("Download", `{"name":"notes/b.txt"}`); code != 200 || out != `{"file":"`+base64.StdEncoding.EncodeToString([]byte("from stdin"))+`"}` {
		t.Fatalf("download of a blob put from stdin: %d %s", code, out)
	}

	// Removing through the CLI removes it for the service.
	c.ok("blob", "rm", "photos/cat.jpg")
	if code, out := call("List", `{}`); code != 200 || out != `{"names":["notes/a.txt","notes/b.txt","reports/q1.bin"]}` {
		t.Fatalf("list after rm: %d %s", code, out)
	}
	if code, out := call("Download", `{"name":"photos/cat.jpg"}`); code != 404 || !strings.Contains(out, "no file photos/cat.jpg") {
		t.Fatalf("download after rm: %d %s", code, out)
	}
	if _, errOut, code := c.run("blob", "get", "photos/cat.jpg", dest); code == 0 || !strings.Contains(errOut, "Blob not found") {
		t.Fatalf("micro blob get of a removed blob: %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, photo) {
		t.Fatalf("a failed get changed the file it was to write")
	}

	// Other tables and namespaces are other blobs.
	c.ok("blob", "put", "--table", "archive", "old.txt", src)
	if got := c.ok("blob", "ls", "-t", "archive"); got != "old.txt\n" {
		t.Fatalf("micro blob ls -t archive: %q", got)
	}
	if got := c.ok("blob", "ls", "--database", "team"); got != "" {
		t.Fatalf("micro blob ls --database team: %q", got)
	}

	// Limits: a blob over --blob-max-size, a form over the body limit.
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := c.run("blob", "put", "big.bin", big); code == 0 || !strings.Contains(errOut, "--blob-max-size") {
		t.Fatalf("micro blob put over --blob-max-size: %d %s", code, errOut)
	}
	form.Reset()
	mw = multipart.NewWriter(&form)
	fw, _ = mw.CreateFormFile("file", "huge.bin")
	io.CopyN(fw, zeros{}, 11<<20)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.gateway+"/files/Files/Upload", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 413 {
		t.Fatalf("multipart form over the body limit: %d", rsp.StatusCode)
	}
	if got := c.ok("blob", "ls"); got != "notes/a.txt\nnotes/b.txt\nreports/q1.bin\n" {
		t.Fatalf("micro blob ls after refused uploads: %q", got)
	}
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
