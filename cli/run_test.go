package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "micro.dev/micro/proto/runtime"
)

func TestLocalSourceAndGitSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	os.WriteFile(file, []byte("package main\n"), 0o644)
	if got, isDir, err := localSource(dir); err != nil || !isDir || got != dir {
		t.Errorf("localSource(dir) = %q, %v, %v", got, isDir, err)
	}
	if _, _, err := localSource(file); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("localSource(file): %v", err)
	}
	if _, _, err := localSource("./missing"); err == nil || err.Error() != "Directory ./missing does not exist" {
		t.Errorf("localSource(missing): %v", err)
	}
	for _, git := range []string{"github.com/org/repo", "github.com/org/repo/svc@v1", "https://host/r.git", "file:///srv/r.git//svc", "git@host:org/r.git"} {
		if _, isDir, err := localSource(git); err != nil || isDir {
			t.Errorf("localSource(%q) = %v, %v; want a git source", git, isDir, err)
		}
	}
	for src, want := range map[string]string{
		"github.com/org/repo":           "repo",
		"github.com/org/repo/cmd/svc@v": "svc",
		"https://host/org/r.git@main":   "r",
		"file:///srv/r.git//a/svc@main": "svc",
		"git@host:org/r.git":            "r",
	} {
		if got := gitName(src); got != want {
			t.Errorf("gitName(%q) = %q; want %q", src, got, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8081": true, "localhost:8081": true, "[::1]:8081": true, ":8081": true,
		"10.0.0.2:8081": false, "micro.example.com": false, "https://micro.example.com": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

func TestEnvList(t *testing.T) {
	var l envList
	if err := l.Set("FOO=bar,BAZ=qux"); err != nil {
		t.Fatal(err)
	}
	if err := l.Set("X=a=b"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l, " "); got != "FOO=bar BAZ=qux X=a=b" {
		t.Errorf("env = %q", got)
	}
	if err := l.Set("nope"); err == nil {
		t.Error("no error for a value without =")
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	printStatus(&buf, []*pb.Service{
		{Name: "zeta", Version: "latest", Source: "/src/zeta", Status: 7, Metadata: map[string]string{
			"owner": "admin", "group": "micro", "retries": "3", "error": "build failed: ./x.go:1: bad\nsecond line"}},
		{Name: "alpha", Source: "source://alpha:latest", Status: 4, Metadata: map[string]string{
			"owner": "micro", "group": "micro", "source": "./alpha", "build": "0123456789abcdef",
			"started": now.Add(-(26*time.Hour + 3*time.Minute + 4*time.Second)).Format(time.RFC3339)}},
	}, now)
	want := "NAME   VERSION  SOURCE     STATUS   BUILD    UPDATED       METADATA\n" +
		"alpha  n/a      ./alpha    running  0123456  1d2h3m4s ago  owner=micro, group=micro\n" +
		"zeta   latest   /src/zeta  error    n/a      n/a           owner=admin, group=micro, retries=3, error=build failed: ./x.go:1: bad; second line\n"
	if buf.String() != want {
		t.Errorf("status table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	printStatus(&buf, nil, now)
	if buf.String() != "no services running\n" {
		t.Errorf("empty status printed %q", buf.String())
	}
	for d, want := range map[time.Duration]string{0: "0s ago", 59 * time.Second: "59s ago", 61 * time.Second: "1m1s ago", 3601 * time.Second: "1h0m1s ago"} {
		if got := timeAgo(now.Add(-d).Format(time.RFC3339), now); got != want {
			t.Errorf("timeAgo(%s) = %q; want %q", d, got, want)
		}
	}
}
