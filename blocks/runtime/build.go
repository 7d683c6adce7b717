package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"micro.dev/micro/blocks/runtime/source"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// maxErrorLines is how many lines of compiler output go into the error
// metadata and the caller's error; the logs get all of it.
const maxErrorLines = 20

// buildNew checks out the service's source and builds it into a new binary
// in the unit's cache directory. dir is the directory of the main package,
// where the process will run.
func (u *unit) buildNew(refetch bool) (bin, build, dir string, err error) {
	select {
	case u.r.builds <- struct{}{}:
		defer func() { <-u.r.builds }()
	case <-u.ctx.Done():
		return "", "", "", u.ctx.Err()
	}
	ctx, cancel := context.WithTimeout(u.ctx, u.r.cfg.BuildTimeout)
	defer cancel()
	s := u.service()
	root, err := u.checkout(ctx, s, refetch)
	if err != nil {
		u.r.logs.note(u.key, "", "[runtime] "+err.Error())
		return "", "", "", err
	}
	dir = filepath.Join(root, filepath.FromSlash(s.Entrypoint))
	if err := checkMain(dir); err != nil {
		u.r.logs.note(u.key, "", "[runtime] "+err.Error())
		return "", "", "", err
	}
	if err := os.MkdirAll(filepath.Join(u.dir, "bin"), 0o755); err != nil {
		return "", "", "", err
	}
	bin = filepath.Join(u.dir, "bin", fmt.Sprintf("%s-%d", u.key.Name, time.Now().UnixNano()))
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	u.r.logs.note(u.key, "", "[runtime] building "+dir)
	start := time.Now()
	out, err := u.goBuild(ctx, dir, bin)
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line != "" {
			u.r.logs.add(u.key, LogLine{Time: time.Now(), Stream: StreamBuild, Message: line})
		}
	}
	if err != nil {
		os.Remove(bin)
		if ctx.Err() != nil {
			err = fmt.Errorf("build of %s did not finish within %s", dir, u.r.cfg.BuildTimeout)
		} else {
			err = fmt.Errorf("build failed: %s", summary(out, err))
		}
		u.r.logs.note(u.key, "", "[runtime] "+err.Error())
		return "", "", "", err
	}
	build, err = fileHash(bin)
	if err != nil {
		return "", "", "", err
	}
	u.r.logs.note(u.key, "", fmt.Sprintf("[runtime] built in %s (build %s)", time.Since(start).Round(time.Millisecond), build[:7]))
	if s.Kind == KindLocal && root == s.Source {
		u.bg.Go(func() { u.snapshot(root) })
	}
	return bin, build, dir, nil
}

// goBuild runs `go build` of the package in dir into bin, reusing Go's build
// cache; CGO_ENABLED and the Go settings are the server's, its other
// variables are not (toolEnviron).
func (u *unit) goBuild(ctx context.Context, dir, bin string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, u.r.cfg.GoBinary, "build", "-buildvcs=false", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = toolEnviron()
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error {
		// The go command's own children (compile, link) are in its group.
		if cmd.Process != nil {
			signalGroup(cmd.Process.Pid, syscall.SIGKILL)
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := startCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if errors.Is(err, exec.ErrNotFound) {
		return out.Bytes(), fmt.Errorf("go is not installed on the server (%s not found on PATH); the runtime builds services with it", u.r.cfg.GoBinary)
	}
	return out.Bytes(), err
}

// summary is the first lines of a failed build's output, or the error
// when it printed nothing.
func summary(out []byte, err error) string {
	text := strings.TrimSpace(string(out))
	if text == "" {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "# ") { // "# example.com/pkg" headers
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > maxErrorLines {
		lines = append(lines[:maxErrorLines], fmt.Sprintf("... (%d more lines in micro logs)", len(lines)-maxErrorLines))
	}
	return strings.Join(lines, "\n")
}

// checkMain makes sure dir holds a main package, so the user gets a clear
// answer rather than go build's.
func checkMain(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	found := ""
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.PackageClauseOnly)
		if err != nil {
			continue // go build reports syntax errors better
		}
		if f.Name.Name == "main" {
			return nil
		}
		found = f.Name.Name
	}
	if found == "" {
		return fmt.Errorf("no Go files in %s: give the directory of a main package", dir)
	}
	return fmt.Errorf("no main package in %s (found package %s): give the directory of a main package", dir, found)
}

// checkout makes the source available on disk and returns its root.
//   - local: the directory itself while it exists, else the snapshot stored
//     at the last successful build (extracted into the cache).
//   - upload: the stored archive, extracted into a fresh directory on the
//     first deploy of this unit and whenever refetch asks (the old one stays
//     until the old process is gone).
//   - git: a clone in the cache, fetched again on refetch.
func (u *unit) checkout(ctx context.Context, s Service, refetch bool) (string, error) {
	switch s.Kind {
	case KindLocal:
		if fi, err := os.Stat(s.Source); err == nil && fi.IsDir() {
			return s.Source, nil
		}
		if !refetch && u.root != "" {
			return u.root, nil
		}
		root, err := u.extract(ctx)
		if err != nil {
			return "", fmt.Errorf("source directory %s is gone and %v", s.Source, err)
		}
		u.root = root
		u.r.logs.note(u.key, "", "[runtime] "+s.Source+" is gone; building from the snapshot stored at the last build")
		return root, nil
	case KindUpload:
		if !refetch && u.root != "" {
			return u.root, nil
		}
		root, err := u.extract(ctx)
		if err != nil {
			return "", err
		}
		u.root = root
		return root, nil
	case KindGit:
		dir := filepath.Join(u.dir, "git")
		commit, err := u.gitCheckout(ctx, dir, s, refetch)
		if err != nil {
			return "", err
		}
		u.setStatus(StatusBuilding, map[string]string{"commit": commit})
		return dir, nil
	}
	return "", fmt.Errorf("unknown source kind %q", s.Kind)
}

// extract unpacks the stored archive into a new src-* directory.
func (u *unit) extract(ctx context.Context) (string, error) {
	data, ok, err := u.r.backend.GetSource(ctx, u.key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("no source archive is stored for the service")
	}
	root := filepath.Join(u.dir, fmt.Sprintf("src-%d", time.Now().UnixNano()))
	if err := source.Unpack(bytes.NewReader(data), root, 8*u.r.cfg.MaxSourceSize); err != nil {
		os.RemoveAll(root)
		return "", fmt.Errorf("unpacking the stored source: %w", err)
	}
	return root, nil
}

// snapshot stores an archive of a local source directory, so a restart can
// rebuild the service even if the directory is gone by then.
func (u *unit) snapshot(root string) {
	var buf bytes.Buffer
	if err := source.Pack(&buf, root, u.r.cfg.MaxSourceSize); err != nil {
		u.r.logs.note(u.key, "", "[runtime] no snapshot of the source stored ("+err.Error()+"); a restart needs "+root)
		return
	}
	if err := u.r.backend.PutSource(context.Background(), u.key, buf.Bytes()); err != nil && !u.r.isClosed() {
		u.r.log.Warn("runtime: storing source snapshot failed", "service", u.key.String(), "err", err)
	}
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
