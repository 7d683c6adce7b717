package gateway

import (
	"bytes"
	"mime/multipart"
	"strings"
	"testing"
)

// form builds a multipart/form-data body: fields as name, value pairs,
// then files as name, filename, content triples.
func form(t *testing.T, fields []string, files ...string) (body, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i+2 < len(files); i += 3 {
		fw, err := w.CreateFormFile(files[i], files[i+1])
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(files[i+2]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), w.FormDataContentType()
}

// TestMultipartUpload: a form upload reaches the service as Micro's API
// gave it: fields as strings, files as bytes.
func TestMultipartUpload(t *testing.T) {
	e := newEnv(t, Config{})
	file := "\x00\xffbinary\r\n--not a boundary\x89PNG"
	body, ct := form(t, []string{"key", "pics/a.png"}, "blob", "a.png", file, "blob", "b.png", "second file ignored")
	e.do(t, "POST", "/store/BlobStore/Write", body, "Content-Type", ct).want(t, 204, ``)
	if got := <-e.blob.got; got.Key != "pics/a.png" || string(got.Blob) != file {
		t.Fatalf("the service got key %q blob %q", got.Key, got.Blob)
	}

	// Repeated fields are comma-joined; the query merges under the form.
	body, ct = form(t, []string{"database", "a", "database", "b"})
	e.do(t, "POST", "/store/Store/Tables", body, "Content-Type", ct).want(t, 200, `{"tables":["micro","a,b"]}`)
	e.do(t, "POST", "/store/Store/Tables?database=q", body, "Content-Type", ct).want(t, 200, `{"tables":["micro","a,b"]}`)
	body, ct = form(t, nil)
	e.do(t, "POST", "/store/Store/Tables?database=q", body, "Content-Type", ct).want(t, 200, `{"tables":["micro","q"]}`)
}

func TestMultipartRefused(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1000})
	r := e.do(t, "POST", "/store/BlobStore/Write", "--x\r\n", "Content-Type", "multipart/form-data")
	if r.code != 400 || !strings.Contains(r.body, "no boundary") {
		t.Fatalf("no boundary: %d %s", r.code, r.body)
	}
	r = e.do(t, "POST", "/store/BlobStore/Write", "--x\r\nbroken", "Content-Type", "multipart/form-data; boundary=x")
	if r.code != 400 || !strings.Contains(r.body, "invalid multipart body") {
		t.Fatalf("broken body: %d %s", r.code, r.body)
	}
	body, ct := form(t, []string{"key", "k"}, "blob", "big.bin", strings.Repeat("x", 1001))
	r = e.do(t, "POST", "/store/BlobStore/Write", body, "Content-Type", ct)
	if r.code != 413 {
		t.Fatalf("over the body limit: %d %s", r.code, r.body)
	}
	select {
	case got := <-e.blob.got:
		t.Fatalf("a refused upload reached the service: %v", got)
	default:
	}
}
