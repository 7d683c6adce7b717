package gateway

import (
	"regexp"
	"strings"
)

// versionRe matches a leading API version segment such as "v1".
var versionRe = regexp.MustCompile(`^v[0-9]+$`)

// MapPath maps a request path to the service and endpoint it calls, following
// Micro's API resolver:
//
//	/foo             -> foo     Foo.Call
//	/foo/bar         -> foo     Foo.Bar
//	/v1/foo/bar      -> v1.foo  Foo.Bar
//	/foo/bar/baz     -> foo     Bar.Baz
//	/foo/bar/baz/cat -> foo.bar Baz.Cat
//
// Handler and method segments are split on "-" and each word gets an upper
// case first letter ("baz-xyz" -> "BazXyz", "fooBar" -> "FooBar").
//
// Unlike Micro, which cleaned any path into something, MapPath rejects what
// cannot name a service: empty segments (a single trailing slash is
// tolerated), "." and "..", characters outside [A-Za-z0-9._-], and a "." in a
// handler or method name, so the endpoint is always exactly Handler.Method.
// The error is the detail of a 400.
func MapPath(p string) (service, endpoint string, err error) {
	if !strings.HasPrefix(p, "/") {
		return "", "", pathError("path %q must start with /", p)
	}
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", "", pathError("path names no service")
	}
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if err := checkSegment(s); err != nil {
			return "", "", err
		}
	}

	var handler, method string
	switch {
	case len(parts) == 1:
		service, handler, method = parts[0], parts[0], "Call"
	case len(parts) == 2:
		service, handler, method = parts[0], parts[0], parts[1]
	case len(parts) == 3 && versionRe.MatchString(parts[0]):
		// The version belongs to the service name; the service's own name
		// doubles as the handler, as for two segments.
		service, handler, method = parts[0]+"."+parts[1], parts[1], parts[2]
	default:
		n := len(parts)
		service, handler, method = strings.Join(parts[:n-2], "."), parts[n-2], parts[n-1]
	}
	if err := checkService(service); err != nil {
		return "", "", err
	}
	h, err := camel(handler)
	if err != nil {
		return "", "", err
	}
	m, err := camel(method)
	if err != nil {
		return "", "", err
	}
	return service, h + "." + m, nil
}

// checkSegment accepts the characters a service, handler or method name may
// hold; anything else is far more likely a typo or an attack than a name.
func checkSegment(s string) error {
	if s == "" {
		return pathError("path has an empty segment")
	}
	if s == "." || s == ".." {
		return pathError("path segment %q is not allowed", s)
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return pathError("path segment %q has a character outside [A-Za-z0-9._-]", s)
		}
	}
	return nil
}

// checkService rejects names with empty dot-separated labels ("a..b", ".a"),
// which no registry holds.
func checkService(s string) error {
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return pathError("service name %q has an empty label", s)
		}
	}
	return nil
}

// camel turns a path segment into a handler or method name: words split on
// "-" are joined, each with its first letter upper-cased.
func camel(s string) (string, error) {
	if strings.Contains(s, ".") {
		return "", pathError("handler or method name %q must not contain '.'; call /{service}/{Handler}/{Method}", s)
	}
	var b strings.Builder
	for _, w := range strings.Split(s, "-") {
		if w == "" {
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	if b.Len() == 0 {
		return "", pathError("handler or method name %q is empty", s)
	}
	return b.String(), nil
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
