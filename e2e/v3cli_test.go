//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// v3Script is a Micro user's deployment script, as Micro's own test scripts
// are written: every call names the client config file (-c) and the env
// (-e), so it neither reads nor changes ~/.micro. (grep reads all its
// input, not -q, so under pipefail micro never dies of a closed pipe.)
const v3Script = `set -euo pipefail
m() { "$MICRO" -c "$CFG" -e staging "$@"; }
m env add staging "$PROXY"
m login --username admin --password micro
m status
m user config set namespaces.staging.current micro
[ "$(m user config get namespaces.staging.current)" = micro ]
[ "$(m user namespace)" = micro ]
[ "$(m user config get micro.auth.staging.token)" = "$(m user token)" ]
m services | grep -x helloworld >/dev/null
[ "$(m helloworld --name=Joe | tr -d '\n\t ')" = '{"msg":"HelloJoe"}' ]
m auth create rule v3-script --scope '*' --resource 'service:helloworld:*' --access granted
m auth delete rule v3-script
m auth delete rule v3-script | grep 'does not exist' >/dev/null
m store write greeting hello
[ "$(m store read greeting)" = hello ]
m --help | grep '^COMMANDS:' >/dev/null
m --help | grep '^GLOBAL OPTIONS:' >/dev/null
m store --help | grep '^OPTIONS:' >/dev/null
m run "$TICKER" --image micro/ticker:latest --instances 2 --type service --env_vars FOO=bar --metadata team=core
m logout
if m store read greeting 2>/dev/null; then echo "store read after logout" >&2; exit 1; fi
echo script done
`

// TestComingFromMicroV3CLI runs the CLI habits of a Micro v3 user against
// one server: a script with -c and -e on every call, Micro's run flags,
// the default endpoint of a dynamic command, Micro's help headings, and
// micro new's next steps.
func TestComingFromMicroV3CLI(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	startService(t, s, helloBinPath(t))

	// The script, with bash, as a user runs it: no MICRO_PROXY, the
	// default config directory empty before and after.
	user := newCLI(t, nil)
	work := t.TempDir()
	cfg := filepath.Join(work, "cfg.json")
	script := filepath.Join(work, "deploy.sh")
	if err := os.WriteFile(script, []byte(v3Script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(user.env, "MICRO="+microBin, "CFG="+cfg, "PROXY="+s.proxy, "TICKER="+copyTestdata(t, "ticker"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.HasSuffix(stdout.String(), "script done\n") {
		t.Fatalf("script: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"micro run: ignoring --image micro/ticker:latest: services run as local processes built with go build, not in containers\n",
		"micro run: ignoring --instances 2: the runtime runs one instance of a service\n",
		"micro run: ignoring --type service: the runtime runs every service the same way\n",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("script's stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if left, _ := os.ReadDir(user.dir); len(left) > 0 {
		t.Errorf("the default config directory was written: %v", left)
	}
	for _, f := range []string{cfg, filepath.Join(work, "cfg-tokens.json")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("state file: %v", err)
		}
	}

	// What the script ran: --env_vars reached the process, --metadata
	// the service's record.
	c := newAdminCLI(t, s)
	waitStatus(t, c, "ticker", "running")
	waitLogs(t, c, "ticker", "foo=bar")
	code, body := postAs(t, s.adminToken(t), s.gateway+"/runtime/Runtime/Read", `{"options":{"service":"ticker"}}`)
	if code != 200 || !strings.Contains(body, `"team":"core"`) {
		t.Errorf("Runtime.Read lacks --metadata: %d %s", code, body)
	}
	c.ok("kill", "ticker")

	// A short name runs from the git base the config file names.
	repo := filepath.Join(t.TempDir(), "services")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyTestdata(t, "ticker"), filepath.Join(repo, "ticker")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "--quiet"}, {"add", "."}, {"commit", "--quiet", "-m", "ticker"}} {
		git := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		git.Dir = repo
		if out, err := git.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	c.ok("user", "config", "set", "git.baseurl", "file://"+repo)
	c.ok("run", "ticker")
	if line := waitStatus(t, c, "ticker", "running"); !strings.Contains(line, "file://"+repo) {
		t.Errorf("short name's source: %s", line)
	}
	c.ok("kill", "ticker")

	// A bare service command calls <Service>.Call; help is for --help, or a
	// service with no such endpoint.
	if out := c.ok("helloworld", "--name=Joe"); out != "{\n\t\"msg\": \"Hello Joe\"\n}\n" {
		t.Errorf("micro helloworld --name=Joe: %q", out)
	}
	if out := c.ok("helloworld", "--name", "Joe"); out != "{\n\t\"msg\": \"Hello Joe\"\n}\n" {
		t.Errorf("micro helloworld --name Joe: %q", out)
	}
	if out := c.ok("helloworld"); out != "{\n\t\"msg\": \"Hello \"\n}\n" {
		t.Errorf("micro helloworld: %q", out)
	}
	if out := c.ok("helloworld", "--help"); !strings.Contains(out, "(no command calls Helloworld.Call)\n\nCOMMANDS:\n  call ") {
		t.Errorf("micro helloworld --help:\n%s", out)
	}
	if out := c.ok("helloworld", "call", "--help"); !strings.Contains(out, "\nOPTIONS:\n  --name string\n  -h, --help") {
		t.Errorf("micro helloworld call --help:\n%s", out)
	}
	if out := c.ok("registry"); !strings.Contains(out, "COMMANDS:\n") || !strings.Contains(out, "Registry.GetService") {
		t.Errorf("micro registry (no default):\n%s", out)
	}
	if _, errOut, code := c.run("registry", "--service", "x"); code != 1 || !strings.HasPrefix(errOut, "Service registry has no default endpoint to call (Registry.Call)") {
		t.Errorf("micro registry --service x: exit %d %s", code, errOut)
	}

	// Every command's help, two levels down, has Micro's headings.
	checkHelp(t, c, nil)

	// micro new ends with Micro's next steps, make proto among them.
	root, _ := filepath.Abs("..")
	c.env = append(c.env, "MICRO_FRAMEWORK_DIR="+root)
	out := c.runAt(t.TempDir(), "new", "helloworld")
	if !strings.Contains(out, "  cd helloworld\n  micro run .\n  micro helloworld --name=John\n") ||
		!strings.HasSuffix(out, "run make proto to recompile it\n(Go alone, no protoc); then edit handler/helloworld.go, and micro run . swaps in the new version.\n\n  make proto\n") {
		t.Errorf("micro new:\n%s", out)
	}
}

// checkHelp runs micro <path> --help and each of its commands' help, to
// depth 2: options under OPTIONS: (GLOBAL OPTIONS: for micro), commands
// under COMMANDS:.
func checkHelp(t *testing.T, c *cli, path []string) {
	t.Helper()
	out := c.ok(append(append([]string{}, path...), "--help")...)
	heading := "\nOPTIONS:\n"
	if len(path) == 0 {
		heading = "\nGLOBAL OPTIONS:\n"
	}
	if !strings.Contains(out, heading) || !strings.Contains(out, "-h, --help") {
		t.Errorf("micro %s --help lacks %q:\n%s", strings.Join(path, " "), heading, out)
	}
	_, cmds, ok := strings.Cut(out, "\nCOMMANDS:\n")
	if !ok || len(path) == 2 {
		return
	}
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	for _, line := range strings.Split(cmds, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			checkHelp(t, c, append(append([]string{}, path...), f[0]))
		}
	}
}
