package runtime

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestServiceSeesNoneOfTheServersSecrets runs a probe as a service while the
// server's environment holds secrets: the probe's environment has none of
// them, only its own identity and the variables it was given; it inherits
// no descriptor but stdin, stdout and stderr (the database stays the
// server's); it cannot read the server's /proc entry; it runs in its own
// directory.
func TestServiceSeesNoneOfTheServersSecrets(t *testing.T) {
	secrets := map[string]string{
		"MICRO_ADMIN_PASSWORD":           "secret-admin-password",
		"MICRO_CONFIG_SECRET_KEY":        "secret-config-key",
		"MICRO_METRICS_TOKEN":            "secret-metrics-token",
		"MICRO_DATA":                     "/secret/micro.db",
		"AWS_ACCESS_KEY_ID":              "secret-aws-id",
		"AWS_SECRET_ACCESS_KEY":          "secret-aws-key",
		"GOOGLE_APPLICATION_CREDENTIALS": "/secret/gcp.json",
		"DATABASE_URL":                   "postgres://secret@db/x",
	}
	for k, v := range secrets {
		t.Setenv(k, v) // not parallel: the environment is the process's
	}
	t.Setenv("TZ", "UTC") // allowed: the probe gets it

	e := newEnv(t, testConfig(t))
	dir := testdata(t, "probe")
	e.mustCreate("probe", dir, []string{"PROBE_FILE=" + e.path, "GIVEN=yes"}, false)
	env := e.waitLog("probe", "probe env:", 60*time.Second)
	for k, v := range secrets {
		if strings.Contains(env, k+"=") || strings.Contains(env, v) {
			t.Errorf("the service's environment holds the server's %s:\n%s", k, env)
		}
	}
	for _, want := range []string{"MICRO_SERVICE_NAME=probe", "MICRO_NAMESPACE=micro", "GIVEN=yes", "TZ=UTC", "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("the service's environment lacks %s:\n%s", want, env)
		}
	}

	fds := strings.Fields(strings.TrimPrefix(e.waitLog("probe", "probe fds:", time.Second), "probe fds:"))
	if len(fds) != 3 || !strings.HasPrefix(fds[0], "0=") || !strings.HasPrefix(fds[1], "1=") || !strings.HasPrefix(fds[2], "2=") {
		t.Errorf("the service inherited descriptors beyond 0, 1 and 2: %v", fds)
	}
	for _, fd := range fds {
		if strings.Contains(fd, "micro.db") {
			t.Errorf("the service holds the database open: %s", fd)
		}
	}

	cwd := strings.TrimSpace(strings.TrimPrefix(e.waitLog("probe", "probe cwd:", time.Second), "probe cwd:"))
	server, _ := os.Getwd()
	if cwd != dir || cwd == server {
		t.Errorf("the service runs in %s; want its own directory %s (the server's is %s)", cwd, dir, server)
	}
	// Nor can it read them from the server's /proc entry, unless it is
	// root (CAP_SYS_PTRACE reads any process's).
	if l := e.waitLog("probe", "probe server environ:", time.Second); os.Geteuid() == 0 {
		t.Logf("running as root, the service reads the server's /proc entry: %s", l)
	} else if !strings.Contains(l, "unreadable") {
		t.Errorf("the service reads the server's environment through /proc: %s", l)
	}
	// Run as the server's user, it can read the data file: the README's
	// "Operations: running services safely" says why and what to do.
	t.Log(e.waitLog("probe", "probe file:", time.Second))
}
