package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// The page is a template (it names the API and the version); everything
// under assets/ is served as it is at /assets/. Both are compiled into the
// binary, so the dashboard works offline and matches the server's version.
var (
	//go:embed app.html
	pageHTML string
	//go:embed assets
	assetFS embed.FS

	pageTemplate   = template.Must(template.New("app.html").Parse(pageHTML))
	embeddedAssets = loadAssets(assetFS)
)

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	data        []byte
	contentType string
	etag        string
}

// contentTypes fixes the types of the kinds of file the app ships, rather
// than relying on the host's MIME tables (a browser refuses a module
// script or a stylesheet served with the wrong type under nosniff).
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

func typeOf(name string) string {
	ext := path.Ext(name)
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// loadAssets reads every embedded asset once, keyed by its path under
// assets/, with a content hash as its ETag.
func loadAssets(fsys embed.FS) map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(p, "assets/")
		out[name] = &asset{name: name, data: data, contentType: typeOf(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded assets: " + err.Error())
	}
	return out
}

// serveAsset answers /assets/<name>. Assets are revalidated on every use
// (no-cache with an ETag): they are small, and a browser then never runs
// an old script against a newer server.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}
