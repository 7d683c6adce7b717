//go:build linux

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// TestRuntimeIsAnAdminOfMicroRight reproduces issue 10: an admin of a
// namespace other than micro runs a program on the server, which runs as
// the server's user and could read its database and mint an admin token of
// micro. By default that is refused, over HTTP and through micro run; a
// namespace --runtime-namespaces lists may run code, and what it runs sees
// none of the server's secrets and inherits no descriptor beyond 0, 1, 2.
func TestRuntimeIsAnAdminOfMicroRight(t *testing.T) {
	t.Parallel()
	secrets := []string{
		"MICRO_METRICS_TOKEN=e2e-secret-metrics-token",
		"MICRO_CONFIG_SECRET_KEY=" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))),
		"AWS_SECRET_ACCESS_KEY=e2e-secret-aws-key",
	}
	s := startServerEnv(t, "", secrets, "--runtime-namespaces", "trusted")
	c := newAdminCLI(t, s)
	c.ok("auth", "create", "account", "alice", "--secret", "pw", "--scopes", "admin", "--namespace", "other")
	c.ok("auth", "create", "account", "tara", "--secret", "pw", "--scopes", "admin", "--namespace", "trusted")
	probe := copyTestdata(t, "probe")
	create := func(ns string) string {
		return fmt.Sprintf(`{"resource":{"service":{"name":"probe","source":%q}},"options":{"namespace":%q,"env":["PROBE_FILE=%s"]}}`,
			probe, ns, s.data)
	}

	// The reproduction: refused, before anything is built.
	code, body := postAs(t, s.token(t, "other", "alice", "pw"), s.gateway+"/runtime/Runtime/Create", create("other"))
	if code != 403 || !strings.Contains(body, "needs an admin of namespace micro") {
		t.Fatalf("Runtime.Create by an admin of other: %d %s; want 403", code, body)
	}
	// micro run uploads first: refused too.
	alice := newCLI(t, s)
	alice.ok("--namespace", "other", "login", "--username", "alice", "--password", "pw")
	if _, errOut, code := alice.run("--namespace", "other", "run", "--upload", probe); code == 0 ||
		!strings.Contains(errOut, "needs an admin of namespace micro") {
		t.Fatalf("micro run by an admin of other: exit %d, %q; want a refusal", code, errOut)
	}

	// A listed namespace's admin may.
	tara := s.token(t, "trusted", "tara", "pw")
	if code, body := postAs(t, tara, s.gateway+"/runtime/Runtime/Create", create("trusted")); code != 200 && code != 204 {
		t.Fatalf("Runtime.Create by an admin of trusted: %d %s", code, body)
	}
	var logs string
	testkit.Eventually(t, 60*time.Second, "the probe's report", func() bool {
		_, out := postAs(t, tara, s.gateway+"/runtime/Runtime/Logs", `{"service":"probe","options":{"namespace":"trusted"}}`)
		logs = ""
		for _, l := range strings.Split(out, "\n") {
			var rec struct{ Message string }
			if json.Unmarshal([]byte(l), &rec) == nil {
				logs += rec.Message + "\n"
			}
		}
		return strings.Contains(logs, "probe file:")
	})
	for _, kv := range secrets {
		name, value, _ := strings.Cut(kv, "=")
		if strings.Contains(logs, name+"=") || strings.Contains(logs, value) {
			t.Errorf("the service's environment holds the server's %s:\n%s", name, logs)
		}
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasPrefix(l, "probe fds:") {
			if fds := strings.Fields(strings.TrimPrefix(l, "probe fds:")); len(fds) != 3 {
				t.Errorf("the service inherited descriptors beyond 0, 1 and 2: %v", fds)
			}
		}
	}
	if !strings.Contains(logs, "MICRO_NAMESPACE=trusted") {
		t.Errorf("the probe's report lacks its namespace:\n%s", logs)
	}
}
