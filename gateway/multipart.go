package gateway

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
)

// multipartObject reads a multipart/form-data body as Micro's API did: each
// form field a string (repeated fields comma-joined), each file field the
// file's bytes (base64 in the JSON the service gets; the first file when a
// field has several). A file wins over a value of the same name.
//
// The body has already been read whole within the body limit (413 above
// it), so parts are read from memory: no temporary files, unlike
// http.Request.ParseMultipartForm.
func multipartObject(body []byte, boundary string) (map[string]any, error) {
	if boundary == "" {
		return nil, badRequest("invalid multipart body: the Content-Type has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	values := map[string][]string{}
	files := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badRequest("invalid multipart body: %v", err)
		}
		name := p.FormName()
		if name == "" {
			p.Close()
			continue // not a form field (no Content-Disposition name)
		}
		data, err := io.ReadAll(p)
		p.Close()
		if err != nil {
			return nil, badRequest("invalid multipart body: part %q: %v", name, err)
		}
		if p.FileName() != "" {
			if _, seen := files[name]; !seen {
				files[name] = data
			}
			continue
		}
		values[name] = append(values[name], string(data))
	}
	obj := make(map[string]any, len(values)+len(files))
	for k, v := range values {
		obj[k] = strings.Join(v, ",")
	}
	for k, v := range files {
		obj[k] = v
	}
	return obj, nil
}
