//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// jobWait bounds the wait for a line a background job should print. The
// store sweeps expired records every minute: an expire line that came from
// a sweep rather than at the expiry would often miss it.
const jobWait = 30 * time.Second

// TestReadmeTour walks the README's tour, command by command, against the
// real binary and one server, checking what each prints against what the
// README shows (tour_readme_test.go has the conventions). A failure names
// the README line that drifted. Between some steps it checks what the
// README says but cannot show (tourHooks).
func TestReadmeTour(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := readTour(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The runtime's builds inherit the server's environment: offline, and
	// with go.mod and go.sum as they are.
	goEnv := append([]string{"GOFLAGS=-mod=readonly -buildvcs=false"}, offlineGo...)
	s := startServerEnv(t, "", goEnv)
	tr := newTour(t, root, s, goEnv)
	defer tr.stopJobs()

	hooks := tourHooks()
	for _, st := range steps {
		out := tr.step(st)
		for _, h := range hooks {
			if !h.done && strings.HasPrefix(st.cmd, h.after) {
				h.done = true
				h.check(t, tr, out)
			}
		}
		if t.Failed() {
			return
		}
	}
	for _, h := range hooks {
		if !h.done {
			t.Errorf("the tour has no command starting with %q any more: move the check %q", h.after, h.what)
		}
	}
}

// tour is the shell the README's commands run in.
type tour struct {
	t       *testing.T
	root    string // the repository
	work    string // the directory the tour starts in
	dir     string // the current directory
	env     []string
	s       *server
	replace *strings.Replacer // for commands
	ports   *strings.Replacer // for expected lines
	jobs    map[int]*exec.Cmd
	output  *jobOutput
	grpcurl bool
}

func newTour(t *testing.T, root string, s *server, goEnv []string) *tour {
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(microBin, filepath.Join(work, "bin", "micro")); err != nil {
		t.Fatal(err)
	}
	// The CLI's built-in env "local" is 127.0.0.1:8081: point it at this
	// server, as a config.json may (nothing else of the CLI's state).
	cfg := t.TempDir()
	_, proxyPort, _ := net.SplitHostPort(s.proxy)
	_, gwPort, _ := net.SplitHostPort(strings.TrimPrefix(s.gateway, "http://"))
	envs, _ := json.Marshal(map[string]any{"local": map[string]string{
		"Name": "local", "ProxyAddress": "127.0.0.1:" + proxyPort, "Description": "Local running Micro Server"}})
	b, _ := json.Marshal(map[string]string{"envs": string(envs)})
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICRO_") && !strings.HasPrefix(kv, "PWD=") && !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	// curl shows no progress meter on a terminal; here its output is a
	// pipe, so its config says --silent (errors still show).
	curlHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(curlHome, ".curlrc"), []byte("silent\nshow-error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// micro new's go.mod builds against this checkout.
	env = append(append(env, goEnv...), "MICRO_CONFIG_DIR="+cfg, "MICRO_FRAMEWORK_DIR="+root, "CURL_HOME="+curlHome)
	_, err := exec.LookPath("grpcurl")
	return &tour{
		t: t, root: root, work: work, dir: work, env: env, s: s,
		replace: strings.NewReplacer(":8080", ":"+gwPort, ":8081", ":"+proxyPort,
			"./testdata/", filepath.Join(root, "testdata")+"/", "go run ", "go run -C "+root+" "),
		ports:   strings.NewReplacer(":8080", ":"+gwPort, ":8081", ":"+proxyPort),
		jobs:    map[int]*exec.Cmd{},
		output:  newJobOutput(),
		grpcurl: err == nil,
	}
}

var (
	assignRE = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(?:\$\([^)]*\)|\S*)\s*(?:#.*)?$`)
	cdRE     = regexp.MustCompile(`^cd\s+(\S+)(?:\s*&&\s*(.*))?$`)
	killRE   = regexp.MustCompile(`^kill((?:\s+%\d+)+)\s*(?:#.*)?$`)
	bgRE     = regexp.MustCompile(`^(.*?)\s*&\s*(?:#.*)?$`)
)

// step runs one command and checks what it printed, returning its own
// output.
func (tr *tour) step(st tourStep) string {
	t := tr.t
	t.Helper()
	cmd := tr.replace.Replace(st.cmd)
	where := fmt.Sprintf("README.md:%d: $ %s", st.line, st.cmd)
	if strings.HasPrefix(cmd, "grpcurl ") && !tr.grpcurl {
		t.Logf("%s: skipped, grpcurl is not installed", where)
		return ""
	}
	want := make([]string, len(st.expect))
	for i, l := range st.expect {
		want[i] = tr.ports.Replace(l)
	}
	var own string
	switch {
	case killRE.MatchString(cmd):
		for _, f := range strings.Fields(killRE.FindStringSubmatch(cmd)[1]) {
			n, _ := strconv.Atoi(strings.TrimPrefix(f, "%"))
			if !tr.kill(n) {
				t.Errorf("%s: no job %d", where, n)
				return ""
			}
		}
	case assignRE.MatchString(cmd):
		name := assignRE.FindStringSubmatch(cmd)[1]
		out, code := tr.sh(cmd + "\nprintf '%s' \"$" + name + "\"")
		if code != 0 {
			t.Errorf("%s: exit %d: %s", where, code, out)
			return ""
		}
		tr.env = append(tr.env, name+"="+out)
	case cdRE.MatchString(cmd):
		m := cdRE.FindStringSubmatch(cmd)
		tr.dir = filepath.Join(tr.dir, m[1])
		if m[2] != "" {
			own, _ = tr.sh(m[2])
		}
	case bgRE.MatchString(cmd):
		tr.start(bgRE.FindStringSubmatch(cmd)[1])
	default:
		own, _ = tr.sh(cmd)
	}
	got := splitLines(own)
	k := ownLines(want, got)
	if k < 0 {
		t.Errorf("%s\nprinted:\n%s\nwhich is not what README.md shows (lines %d-%d):\n%s",
			where, own, st.line+1, st.line+len(want), strings.Join(st.expect, "\n"))
		return own
	}
	for i, l := range want[k:] {
		if isAny(l) {
			continue
		}
		if !tr.output.await(l, jobWait) {
			t.Errorf("%s: waited %s for README.md:%d from the commands in the background:\n%s\nthey printed:\n%s",
				where, jobWait, st.line+1+k+i, st.expect[k+i], tr.output.unmatched())
			return own
		}
	}
	return own
}

// sh runs a command in the tour's directory and environment and returns
// what it printed (stdout and stderr, interleaved) and its exit code.
func (tr *tour) sh(cmd string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Dir, c.Env = tr.dir, append(tr.env, "PWD="+tr.dir)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		tr.t.Fatalf("sh -c %q: %v", cmd, err)
	}
	return out.String(), 0
}

// start runs cmd as a job, in its own process group as a shell's job
// control does, its output going to the jobs' output.
func (tr *tour) start(cmd string) {
	c := exec.Command("sh", "-c", cmd)
	c.Dir, c.Env = tr.dir, append(tr.env, "PWD="+tr.dir)
	c.Stdout, c.Stderr = tr.output, tr.output
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		tr.t.Fatalf("starting %q: %v", cmd, err)
	}
	n := 1
	for i := range tr.jobs {
		n = max(n, i+1)
	}
	tr.jobs[n] = c
}

// kill ends job n's process group with SIGTERM, as `kill %n` does, and
// waits for the job to end.
func (tr *tour) kill(n int) bool {
	c, ok := tr.jobs[n]
	if !ok {
		return false
	}
	delete(tr.jobs, n)
	syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		tr.t.Errorf("job %d (%v) did not end within 30s of SIGTERM", n, c.Args)
	}
	return true
}

func (tr *tour) stopJobs() {
	for n := range tr.jobs {
		tr.kill(n)
	}
}

// micro runs the CLI as the tour's shell would, for the hooks' checks.
func (tr *tour) micro(args ...string) (string, int) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return tr.sh(microBin + " " + strings.Join(q, " "))
}

// tourHook is a check between two steps of the tour of what the README
// says in prose: after the first command starting with after.
type tourHook struct {
	after, what string
	check       func(t *testing.T, tr *tour, out string)
	done        bool
}

func tourHooks() []*tourHook {
	return []*tourHook{
		{after: "micro get service helloworld", what: "micro run notes a hand-started instance", check: checkRunNotesOthers},
		{after: "micro get service helloworld", what: "a server on a copy lists no stale nodes", check: checkCopyForgetsNodes},
		{after: "micro logs helloworld", what: "a killed process's node goes at once", check: checkKilledNodeGoes},
		{after: "micro backup ./micro-backup.db", what: ".gitignore covers the backup", check: checkBackupIgnored},
	}
}

// checkRunNotesOthers: with the hand-started helloworld registered, micro
// run of another helloworld says so in one line. The source does not
// compile, so nothing else is left running.
func checkRunNotesOthers(t *testing.T, tr *tour, _ string) {
	dir := filepath.Join(t.TempDir(), "helloworld")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := tr.micro("run", dir)
	note := regexp.MustCompile(`(?m)^helloworld is already running, not started by micro run \(127\.0\.0\.1:\d+\): calls will go to both; stop that one first$`)
	if code == 0 || !note.MatchString(out) || strings.Count(out, "already running") != 1 {
		t.Errorf("micro run beside the hand-started helloworld: exit %d, printed:\n%s", code, out)
	}
	if out, code := tr.micro("kill", "helloworld"); code != 0 {
		t.Errorf("micro kill of the broken helloworld: exit %d: %s", code, out)
	}
}

// checkCopyForgetsNodes: a server started on a backup taken while the
// hand-started helloworld was registered does not list it.
func checkCopyForgetsNodes(t *testing.T, tr *tour, _ string) {
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if out, code := tr.micro("backup", copyPath); code != 0 {
		t.Fatalf("micro backup: exit %d: %s", code, out)
	}
	if out, _ := tr.micro("services"); !strings.Contains(out, "helloworld") {
		t.Fatalf("helloworld is not registered on the original: %s", out)
	}
	c := startServer(t, copyPath)
	defer c.stop(syscall.SIGTERM)
	out := newAdminCLI(t, c).ok("services")
	if strings.Contains(out, "helloworld") || !strings.Contains(out, "store") {
		t.Errorf("services on a server started on the copy: %q; want the blocks alone", out)
	}
	if !strings.Contains(c.log(), "registry: forgot the nodes registered before this start") {
		t.Errorf("the copy's server did not say it forgot the old nodes:\n%s", c.log())
	}
}

// checkKilledNodeGoes: kill -9 of the process micro run started takes its
// node out of the registry as soon as the runtime sees it exit, long before
// its TTL (90s) would.
func checkKilledNodeGoes(t *testing.T, tr *tour, logs string) {
	m := regexp.MustCompile(`\[runtime\] started pid (\d+) \(instance (\w+)\)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no started pid in the logs:\n%s", logs)
	}
	pid, _ := strconv.Atoi(m[1])
	instance := m[2]
	// The process runs (its pid was logged); its first registration waits
	// on its start-up, slow on a loaded machine.
	testkit.Eventually(t, 90*time.Second, "helloworld registered by instance "+instance, func() bool {
		out, _ := tr.micro("get", "service", "helloworld")
		return strings.Contains(out, "instance="+instance)
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the killed instance's node to leave the registry", func() bool {
		out, _ := tr.micro("get", "service", "helloworld")
		return !strings.Contains(out, "instance="+instance)
	})
	// The log line may be read after the registry answers without the node.
	testkit.Eventually(t, 10*time.Second, "the server to say it removed the node itself", func() bool {
		return strings.Contains(tr.s.log(), `"msg":"runtime: removed the nodes of an exited process"`)
	})
	testkit.Eventually(t, 60*time.Second, "helloworld restarted", func() bool {
		st, _ := statusOf(&cli{t: t, env: tr.env}, "helloworld")
		return st == "running"
	})
}

// checkBackupIgnored: the file the README's backup writes is not something
// git offers to commit.
func checkBackupIgnored(t *testing.T, tr *tour, _ string) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git is not installed: .gitignore not checked")
		return
	}
	c := exec.Command("git", "-C", tr.root, "check-ignore", "-q", "--no-index", "micro-backup.db")
	if err := c.Run(); err != nil {
		t.Errorf("git check-ignore micro-backup.db: %v; .gitignore should cover the README's backup", err)
	}
}
