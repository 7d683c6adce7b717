package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// gitSource is a git source as `micro run` takes it.
type gitSource struct {
	URL        string // what git clones
	Ref        string // branch, tag or commit; "" for the default branch
	Entrypoint string // directory inside the repository
}

// parseGitSource reads a git source:
//
//	github.com/org/repo[/dir][@ref]           (host/org/repo, cloned over https)
//	https://host/org/repo.git[//dir][@ref]    (any URL git takes: https, http, ssh, git, file)
//	git@host:org/repo.git[//dir][@ref]
//
// A ref follows the last "@" after the last "/"; a directory inside a full
// URL follows "//" after the scheme.
func parseGitSource(s string) (gitSource, error) {
	var g gitSource
	if s == "" {
		return g, errors.New("empty source")
	}
	if i := strings.LastIndex(s, "@"); i > 0 && i > strings.LastIndex(s, "/") && i > strings.LastIndex(s, ":") {
		s, g.Ref = s[:i], s[i+1:]
		if g.Ref == "" {
			return g, fmt.Errorf("empty ref after @ in %q", s+"@")
		}
	}
	scheme, rest, hasScheme := strings.Cut(s, "://")
	switch {
	case hasScheme:
		switch scheme {
		case "https", "http", "ssh", "git", "file":
		default:
			return g, fmt.Errorf("unsupported source scheme %q: use https, http, ssh, git or file URLs", scheme)
		}
		repo, dir, _ := strings.Cut(rest, "//")
		g.URL, g.Entrypoint = scheme+"://"+repo, dir
	case strings.HasPrefix(s, "git@"):
		repo, dir, _ := strings.Cut(s, "//")
		g.URL, g.Entrypoint = repo, dir
	default:
		parts := strings.Split(strings.Trim(s, "/"), "/")
		if len(parts) < 3 || !strings.Contains(parts[0], ".") {
			return g, fmt.Errorf("%q is neither a directory nor a git source (host/org/repo[/dir][@ref] or a git URL)", s)
		}
		g.URL = "https://" + strings.Join(parts[:3], "/")
		g.Entrypoint = strings.Join(parts[3:], "/")
	}
	if g.Entrypoint != "" {
		clean := path.Clean(g.Entrypoint)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return g, fmt.Errorf("directory %q must stay inside the repository", g.Entrypoint)
		}
		g.Entrypoint = clean
	}
	return g, nil
}

// gitServiceName is the default service name of a git source: its
// directory's last element, else the repository's.
func gitServiceName(g gitSource) string {
	if g.Entrypoint != "" && g.Entrypoint != "." {
		return path.Base(g.Entrypoint)
	}
	base := path.Base(strings.TrimSuffix(strings.TrimRight(g.URL, "/"), "/"))
	if i := strings.LastIndex(base, ":"); i >= 0 { // git@host:repo.git
		base = base[i+1:]
	}
	return strings.TrimSuffix(base, ".git")
}

// gitCheckout clones the repository into dir (or, with a clone there, uses
// it, fetching first when refetch asks) and checks out the service's ref;
// without refetch, the commit built last time is checked out again, so a
// restart rebuilds the same code. It returns the commit.
func (u *unit) gitCheckout(ctx context.Context, dir string, s Service, refetch bool) (string, error) {
	gitBin := u.r.cfg.GitBinary
	if _, err := exec.LookPath(gitBin); err != nil {
		return "", fmt.Errorf("git is not installed on the server (%s not found on PATH); it is needed to fetch %s", gitBin, s.Source)
	}
	git := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, gitBin, args...)
		cmd.Env = append(toolEnviron(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true")
		closeInherited()
		out, err := cmd.CombinedOutput()
		text := strings.TrimSpace(string(out))
		if err != nil {
			if text == "" {
				text = err.Error()
			}
			return text, fmt.Errorf("git %s: %s", args[0], text)
		}
		return text, nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		os.RemoveAll(dir)
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", err
		}
		u.r.logs.note(u.key, "", "[runtime] cloning "+s.Source)
		if _, err := git("clone", "--quiet", "--no-checkout", "--", s.Source, dir); err != nil {
			return "", fmt.Errorf("cannot clone %s: %v", s.Source, err)
		}
	} else if refetch {
		u.r.logs.note(u.key, "", "[runtime] fetching "+s.Source)
		if _, err := git("-C", dir, "fetch", "--quiet", "--tags", "--force", "--prune", "origin"); err != nil {
			return "", fmt.Errorf("cannot fetch %s: %v", s.Source, err)
		}
	}
	var candidates []string
	if last := s.Metadata["commit"]; last != "" && !refetch {
		candidates = append(candidates, last)
	}
	if s.Ref == "" {
		candidates = append(candidates, "origin/HEAD")
	} else {
		candidates = append(candidates, "origin/"+s.Ref, "refs/tags/"+s.Ref, s.Ref)
	}
	for _, c := range candidates {
		commit, err := git("-C", dir, "rev-parse", "--verify", "--quiet", c+"^{commit}")
		if err != nil || commit == "" {
			continue
		}
		if _, err := git("-C", dir, "checkout", "--quiet", "--force", "--detach", commit); err != nil {
			return "", err
		}
		u.r.logs.note(u.key, "", "[runtime] checked out "+commit[:min(12, len(commit))])
		return commit, nil
	}
	if s.Ref == "" {
		return "", fmt.Errorf("repository %s has no default branch to check out", s.Source)
	}
	return "", fmt.Errorf("ref %q not found in %s", s.Ref, s.Source)
}
