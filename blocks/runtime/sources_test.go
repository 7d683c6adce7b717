//go:build unix

package runtime

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/blocks/runtime/source"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/runtime"
)

// gitRepo makes a bare repository holding the version program under svc/,
// and a work tree to push changes from.
func gitRepo(t *testing.T) (bare, work string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	bare, work = filepath.Join(root, "repo.git"), filepath.Join(root, "work")
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(root, "init", "--quiet", "--bare", bare)
	run(root, "clone", "--quiet", bare, work)
	if err := os.Rename(testdata(t, "version"), filepath.Join(work, "svc")); err != nil {
		t.Fatal(err)
	}
	run(work, "add", ".")
	run(work, "commit", "--quiet", "-m", "v1")
	run(work, "push", "--quiet", "origin", "HEAD:main")
	run(work, "tag", "v1")
	run(work, "push", "--quiet", "origin", "v1")
	return bare, work
}

func TestGitSourceClonesBuildsAndUpdates(t *testing.T) {
	t.Parallel()
	bare, work := gitRepo(t)
	e := newEnv(t, testConfig(t))
	url := "file://" + bare + "//svc"
	e.mustCreate("", url, nil, false)
	svc := e.waitStatus("svc", StatusRunning, 60*time.Second)
	if svc.Source != "file://"+bare || len(svc.Metadata["commit"]) != 40 {
		t.Errorf("service = %v; want source file://%s and a commit", svc, bare)
	}
	if svc.Metadata["source"] != url { // what micro status shows: the directory too
		t.Errorf("metadata source = %q; want %q", svc.Metadata["source"], url)
	}
	e.waitLog("svc", "version v1", 10*time.Second)

	// A new commit is not picked up until micro update.
	setVersion(t, filepath.Join(work, "svc"), "v1", "v2")
	for _, args := range [][]string{{"commit", "--quiet", "-am", "v2"}, {"push", "--quiet", "origin", "HEAD:main"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if _, err := e.client.Update(ctx(t), &pb.UpdateRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "svc"}}}); err != nil {
		t.Fatal(err)
	}
	e.waitLog("svc", "version v2 started", 30*time.Second)
	after := e.waitStatus("svc", StatusRunning, 30*time.Second)
	if after.Metadata["commit"] == svc.Metadata["commit"] {
		t.Error("commit unchanged after update")
	}

	// A tag, and a ref that does not exist.
	e.mustCreate("tagged", "file://"+bare+"//svc@v1", nil, false)
	e.waitLog("tagged", "version v1", 30*time.Second)
	err := e.create("missing", "file://"+bare+"//svc@nope", nil, false)
	if errCode(err) != 400 || !strings.Contains(err.Error(), `ref \"nope\" not found`) {
		t.Errorf("missing ref: %v; want 400 ref not found", err)
	}
	err = e.create("nowhere", "file://"+filepath.Join(t.TempDir(), "none.git"), nil, false)
	if errCode(err) != 400 || !strings.Contains(err.Error(), "cannot clone") {
		t.Errorf("missing repository: %v; want 400 cannot clone", err)
	}
}

func TestGitMissingIsAClearError(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.GitBinary = "git-that-is-not-installed"
	e := newEnv(t, cfg)
	err := e.create("x", "file:///tmp/none.git", nil, false)
	if errCode(err) != 400 || !strings.Contains(err.Error(), "git is not installed on the server") {
		t.Errorf("create: %v; want 400 git is not installed", err)
	}
}

func TestParseGitSource(t *testing.T) {
	for in, want := range map[string]gitSource{
		"github.com/org/repo":                {URL: "https://github.com/org/repo"},
		"github.com/org/repo/cmd/svc@v1.2.0": {URL: "https://github.com/org/repo", Ref: "v1.2.0", Entrypoint: "cmd/svc"},
		"https://host/org/repo.git//svc@dev": {URL: "https://host/org/repo.git", Ref: "dev", Entrypoint: "svc"},
		"ssh://git@host:22/org/repo.git":     {URL: "ssh://git@host:22/org/repo.git"},
		"file:///srv/repo.git//a/b@main":     {URL: "file:///srv/repo.git", Ref: "main", Entrypoint: "a/b"},
		"git@github.com:org/repo.git@main":   {URL: "git@github.com:org/repo.git", Ref: "main"},
	} {
		got, err := parseGitSource(in)
		if err != nil || got != want {
			t.Errorf("parseGitSource(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		// Shown back with its directory and ref, it parses the same.
		shown := Service{Kind: KindGit, Source: got.URL, Ref: got.Ref, Entrypoint: got.Entrypoint}.shownSource()
		if again, err := parseGitSource(shown); err != nil || again != want {
			t.Errorf("shown as %q, which parses as %+v, %v", shown, again, err)
		}
	}
	for _, bad := range []string{"helloworld", "ftp://host/x", "github.com/org/repo/../../x", "github.com/org/repo@"} {
		if _, err := parseGitSource(bad); err == nil {
			t.Errorf("parseGitSource(%q): no error", bad)
		}
	}
}

func TestUploadedSource(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxSourceSize = 1 << 20
	e := newEnv(t, cfg)
	var archive bytes.Buffer
	if err := source.Pack(&archive, testdata(t, "ticker"), 1<<20); err != nil {
		t.Fatal(err)
	}
	upload := func(name string, chunks ...[]byte) (string, error) {
		stream, err := e.source.Upload(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range chunks {
			msg := &pb.UploadRequest{Data: c}
			if i == 0 {
				msg.Service = &pb.Service{Name: name}
			}
			if err := stream.Send(msg); err != nil {
				break
			}
		}
		rsp, err := stream.CloseAndRecv()
		return rsp.GetId(), err
	}
	data := archive.Bytes()
	id, err := upload("remote", data[:100], data[100:500], data[500:])
	if err != nil || id != "source://remote:latest" {
		t.Fatalf("upload = %q, %v", id, err)
	}
	e.mustCreate("remote", id, nil, false)
	e.waitStatus("remote", StatusRunning, 30*time.Second)
	e.waitLog("remote", "ticker tick 1", 10*time.Second)

	if _, err := upload("bad", []byte("not an archive")); errCode(err) != 400 {
		t.Errorf("garbage upload: %v; want 400", err)
	}
	if _, err := upload("big", make([]byte, 600<<10), make([]byte, 600<<10)); errCode(err) != 413 {
		t.Errorf("oversized upload: %v; want 413", err)
	}
	if _, err := upload("", data); errCode(err) != 400 {
		t.Errorf("upload without a name: %v; want 400", err)
	}
	if err := e.create("ghost", "source://ghost:latest", nil, false); errCode(err) != 400 {
		t.Errorf("create from a missing upload: %v; want 400", err)
	}
}

func TestBadInputGetsClearErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t))
	notMain := t.TempDir()
	os.WriteFile(filepath.Join(notMain, "go.mod"), []byte("module lib\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(notMain, "lib.go"), []byte("package lib\n"), 0o644)
	broken := testdata(t, "version")
	os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { nope() }\n"), 0o644)

	for _, tc := range []struct {
		name, source string
		code         int32
		detail       string
	}{
		{"a", filepath.Join(t.TempDir(), "missing"), 400, "does not exist on the server"},
		{"b", filepath.Join(notMain, "lib.go"), 400, "is not a directory"},
		{"c", notMain, 400, "no main package in " + notMain + " (found package lib)"},
		{"d", t.TempDir(), 400, "no Go files in"},
		{"e", broken, 400, "main.go:3:15: undefined: nope"},
		{"bad name!", notMain, 400, "service name"},
		{"f", "", 400, "service.source is required"},
		{"g", "helloworld", 400, "neither a directory nor a git source"},
	} {
		err := e.create(tc.name, tc.source, nil, false)
		if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.detail) {
			t.Errorf("create %s from %q: %v; want %d %q", tc.name, tc.source, err, tc.code, tc.detail)
		}
	}
	// The failed build is recorded, with its output in the logs.
	if svc := e.service("e"); svc == nil || Status(svc.Status) != StatusError || !strings.Contains(svc.Metadata["error"], "undefined: nope") {
		t.Errorf("service e = %v; want status error with the compiler's message", svc)
	}
	e.waitLog("e", "undefined: nope", time.Second)

	// A running service is not replaced without force.
	dir := testdata(t, "ticker")
	e.mustCreate("ticker", dir, nil, false)
	if err := e.create("ticker", dir, nil, false); errCode(err) != 409 {
		t.Errorf("second create: %v; want 409", err)
	}
	if _, err := e.client.Create(ctx(t), &pb.CreateRequest{
		Resource: &pb.Resource{Service: &pb.Service{Name: "ticker", Source: dir}},
		Options:  &pb.CreateOptions{Force: true},
	}); err != nil {
		t.Errorf("create --force: %v", err)
	}
	if err := e.create("e", broken, nil, false); errCode(err) != 400 {
		t.Errorf("re-create of a failed service: %v; want the build error again, not 409", err)
	}

	missing := &pb.Resource{Service: &pb.Service{Name: "nope"}}
	if _, err := e.client.Update(ctx(t), &pb.UpdateRequest{Resource: missing}); errCode(err) != 404 {
		t.Errorf("update of a missing service: %v; want 404", err)
	}
	stream, err := e.client.Logs(ctx(t), &pb.LogsRequest{Service: "nope"})
	if err == nil {
		_, err = stream.Recv()
	}
	if errCode(err) != 404 || !strings.Contains(err.Error(), "service not found") {
		t.Errorf("logs of a missing service: %v; want 404 service not found", err)
	}
	if _, err := e.client.Create(ctx(t), &pb.CreateRequest{Resource: &pb.Resource{Namespace: &pb.Namespace{Name: "x"}}}); errCode(err) != 501 {
		t.Errorf("create namespace: %v; want 501", err)
	}
}

func TestLogsAreCappedPerService(t *testing.T) {
	t.Parallel()
	db := newEnv(t, testConfig(t)).rt.backend
	a, b := Key{"micro", "a", "latest"}, Key{"micro", "b", "latest"}
	bg := context.Background()
	for i := 0; i < 30; i++ {
		var lines []LogLine
		for j := 0; j < 10; j++ {
			lines = append(lines, LogLine{Time: time.Now(), Stream: StreamStdout, Message: "line " + strconv.Itoa(i*10+j)})
		}
		if err := db.AppendLogs(bg, a, lines, LogCap{Lines: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendLogs(bg, b, []LogLine{{Time: time.Now(), Stream: StreamStdout, Message: "b"}}, LogCap{Lines: 100}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ReadLogs(bg, a, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 || got[0].Message != "line 200" || got[99].Message != "line 299" {
		t.Errorf("kept %d lines, %q..%q; want line 200..line 299", len(got), got[0].Message, got[len(got)-1].Message)
	}
	if got, _ := db.ReadLogs(bg, b, LogQuery{}); len(got) != 1 {
		t.Errorf("service b has %d lines; another service's cap must not touch it", len(got))
	}
	tail, _ := db.ReadLogs(bg, a, LogQuery{Last: 3})
	if len(tail) != 3 || tail[2].Message != "line 299" {
		t.Errorf("last 3 = %v", tail)
	}
}

func TestFloodingServiceStaysCapped(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.LogLines = 200
	cfg.MaxLineBytes = 64
	e := newEnv(t, cfg)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module flood\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"strings"
)

func main() {
	long := strings.Repeat("x", 1000)
	for i := 0; ; i++ {
		fmt.Println(i, long)
	}
}
`), 0o644)
	e.mustCreate("flood", dir, nil, false)
	e.waitStatus("flood", StatusRunning, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "dropped lines to be noted", func() bool {
		for _, l := range e.logs("flood") {
			if strings.Contains(l, "lines dropped") {
				return true
			}
		}
		return false
	})
	for i := 0; i < 5; i++ {
		lines := e.logs("flood")
		if len(lines) > 200 {
			t.Fatalf("%d lines kept; cap is 200", len(lines))
		}
		for _, l := range lines {
			if len(l) > 64 {
				t.Fatalf("line of %d bytes kept; cut at 64", len(l))
			}
		}
	}
	// The server still answers promptly.
	start := time.Now()
	e.service("flood")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read took %s while a service floods its output", d)
	}
}

func TestGoMissingIsAClearError(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.GoBinary = "go-that-is-not-installed"
	e := newEnv(t, cfg)
	err := e.create("ticker", testdata(t, "ticker"), nil, false)
	if errCode(err) != 400 || !strings.Contains(err.Error(), "go is not installed on the server") {
		t.Errorf("create: %v; want 400 go is not installed", err)
	}
}
