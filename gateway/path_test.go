package gateway

import (
	"strings"
	"testing"

	"micro.dev/micro/framework/errors"
)

func TestMapPath(t *testing.T) {
	for _, tc := range []struct {
		path, service, endpoint string
	}{
		// Micro's resolver table.
		{"/foo", "foo", "Foo.Call"},
		{"/foo/bar", "foo", "Foo.Bar"},
		{"/foo/bar/baz", "foo", "Bar.Baz"},
		{"/foo/foo/bar", "foo", "Foo.Bar"},
		{"/foo/bar/baz/cat", "foo.bar", "Baz.Cat"},
		{"/v1/foo/bar", "v1.foo", "Foo.Bar"},
		{"/v1/foo/bar/baz", "v1.foo", "Bar.Baz"},
		{"/v12/foo/bar", "v12.foo", "Foo.Bar"},
		{"/vx/foo/bar", "vx", "Foo.Bar"},
		{"/helloworld/Call", "helloworld", "Helloworld.Call"},
		{"/helloworld/call", "helloworld", "Helloworld.Call"},
		{"/foo/bar/baz-xyz", "foo", "Bar.BazXyz"},
		{"/foo/fooBar", "foo", "Foo.FooBar"},
		{"/foo-bar/baz", "foo-bar", "FooBar.Baz"},
		{"/foo/bar--baz-", "foo", "Foo.BarBaz"},
		{"/foo/snake_case", "foo", "Foo.Snake_case"},
		// Block services.
		{"/store/Store/Read", "store", "Store.Read"},
		{"/registry/Registry/ListServices", "registry", "Registry.ListServices"},
		{"/auth/Accounts/List", "auth", "Accounts.List"},
		{"/go.micro.srv/Foo/Bar", "go.micro.srv", "Foo.Bar"},
		// A trailing slash is tolerated.
		{"/store/Store/Read/", "store", "Store.Read"},
	} {
		svc, ep, err := MapPath(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if svc != tc.service || ep != tc.endpoint {
			t.Errorf("%s: got %s %s, want %s %s", tc.path, svc, ep, tc.service, tc.endpoint)
		}
	}
}

func TestMapPathRejects(t *testing.T) {
	for _, p := range []string{
		"", "/", "//", "foo", "/foo//bar", "//foo", "/foo/../bar", "/../foo", "/./foo",
		"/foo/bar//", "/foo bar", "/foo/b%r", "/foo/bär", "/foo/bar?x", "/foo/-", "/foo/---",
		"/foo.bar", "/foo.bar/baz", "/foo/bar.baz", "/foo/bar/baz.qux", "/.foo/bar/baz", "/foo./bar/baz",
		"/a..b/c/d",
	} {
		svc, ep, err := MapPath(p)
		if err == nil {
			t.Errorf("%q: accepted as %s %s", p, svc, ep)
			continue
		}
		if e := errors.FromError(err, ""); e.Code != 400 {
			t.Errorf("%q: code %d, want 400", p, e.Code)
		}
	}
}

func FuzzPathMapping(f *testing.F) {
	for _, s := range []string{
		"/", "/foo", "/foo/bar", "/foo/bar/baz", "/v1/foo/bar", "/v1/foo/bar/baz",
		"/foo/bar/baz/cat", "/foo-bar/baz-xyz", "/a/b/c/d/e/f", "/foo//bar", "/..", "/foo/./bar",
		"/foo.bar/Baz/Qux", "/-/-", "/foo/bar/", "/\x00", "/é", "/v1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		svc, ep, err := MapPath(p)
		if err != nil {
			if e := errors.FromError(err, ""); e.Code != 400 {
				t.Fatalf("%q: error code %d", p, e.Code)
			}
			return
		}
		if svc == "" || strings.Contains(svc, "/") || strings.Contains(ep, "/") {
			t.Fatalf("%q: bad mapping %q %q", p, svc, ep)
		}
		h, m, ok := strings.Cut(ep, ".")
		if !ok || h == "" || m == "" || strings.Contains(m, ".") {
			t.Fatalf("%q: endpoint %q is not Handler.Method", p, ep)
		}
		for _, s := range []string{svc, h, m} {
			for i := 0; i < len(s); i++ {
				if !nameChar(s[i]) {
					t.Fatalf("%q: %q has byte %q", p, s, s[i])
				}
			}
		}
	})
}
