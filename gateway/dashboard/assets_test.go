package dashboard

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// renderPage is the app page as the server sends it.
func renderPage(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pageData{API: "http://127.0.0.1:8080", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestPageReferencesOnlyEmbeddedAssets parses the page: everything it
// loads must be an embedded asset (the dashboard works offline, and the
// CSP allows nothing else), links must stay on the dashboard, and there
// must be no inline script or style (the CSP would block them).
func TestPageReferencesOnlyEmbeddedAssets(t *testing.T) {
	doc, err := html.Parse(strings.NewReader(renderPage(t)))
	if err != nil {
		t.Fatal(err)
	}
	loads := 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s %s=...>: inline event handlers are blocked by the CSP", n.Data, a.Key)
				}
				if a.Key == "style" {
					t.Errorf("<%s style=...>: inline styles are blocked by the CSP", n.Data)
				}
			}
			switch n.Data {
			case "script":
				if attrs["src"] == "" {
					t.Errorf("inline <script>: blocked by the CSP")
				}
			case "style":
				t.Errorf("inline <style>: blocked by the CSP")
			}
			for _, key := range []string{"src", "href"} {
				ref, ok := attrs[key]
				if !ok {
					continue
				}
				if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
					t.Errorf("<%s %s=%q>: not a path on the dashboard", n.Data, key, ref)
					continue
				}
				// What the browser fetches (scripts, styles, icons, images)
				// must be embedded; links may name app pages too.
				fetched := n.Data != "a"
				if name, isAsset := strings.CutPrefix(ref, "/assets/"); isAsset || fetched {
					loads++
					if _, ok := embeddedAssets[name]; !ok || !isAsset {
						t.Errorf("<%s %s=%q>: not an embedded asset", n.Data, key, ref)
					}
				} else if !isAppRoute(ref) && ref != "/logout" {
					t.Errorf("<a href=%q>: no such page", ref)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if loads < 3 {
		t.Errorf("the page loads %d assets; expected the script, the stylesheet and the icon", loads)
	}
}

// TestScriptsStayOffline checks the scripts without running them: every
// module they import is embedded, they fetch nothing from elsewhere, and
// they never turn data into markup.
func TestScriptsStayOffline(t *testing.T) {
	importRe := regexp.MustCompile(`(?m)^\s*import\s[^;]*?from\s+'([^']+)'`)
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|https?://`)
	scripts := 0
	for name, a := range embeddedAssets {
		src := string(a.data)
		switch {
		case strings.HasSuffix(name, ".js"):
			scripts++
			for _, m := range importRe.FindAllStringSubmatch(src, -1) {
				if !strings.HasPrefix(m[1], "./") {
					t.Errorf("%s imports %q: only embedded modules may be imported", name, m[1])
					continue
				}
				if _, ok := embeddedAssets[strings.TrimPrefix(m[1], "./")]; !ok {
					t.Errorf("%s imports %q, which is not embedded", name, m[1])
				}
			}
			for i, line := range strings.Split(src, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue // a comment may name what the code avoids
				}
				if forbidden.MatchString(line) {
					t.Errorf("%s:%d: %s", name, i+1, strings.TrimSpace(line))
				}
			}
			if n := strings.Count(src, "\n"); n > 400 {
				t.Errorf("%s has %d lines; keep each script under 400", name, n)
			}
		case strings.HasSuffix(name, ".css"):
			if regexp.MustCompile(`@import|url\(\s*['"]?(https?:)?//`).MatchString(src) {
				t.Errorf("%s loads something from elsewhere", name)
			}
		}
	}
	if scripts < 5 {
		t.Errorf("only %d scripts embedded", scripts)
	}
	if _, ok := embeddedAssets["app.js"]; !ok {
		t.Error("app.js is not embedded")
	}
}
