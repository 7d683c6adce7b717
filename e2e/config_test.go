package e2e

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestConfigTour is the config story with the real binary, and the
// secret is nowhere on disk in clear text.
func TestConfigTour(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	const secret = "xyz-e2e-9b1c7f3a"

	c.ok("config", "set", "helloworld.greeting", `"Hi"`)
	c.ok("config", "set", "helloworld.db", `{"host":"localhost","port":5432}`)
	if out := c.ok("config", "get", "helloworld.db.port"); out != "5432\n" {
		t.Fatalf("get port: %q", out)
	}
	c.ok("config", "set", "helloworld.apikey", secret, "--secret")
	out := c.ok("config", "get", "helloworld")
	if !strings.Contains(out, `"apikey": "[secret]"`) || strings.Contains(out, secret) || !strings.Contains(out, `"greeting": "Hi"`) {
		t.Fatalf("get helloworld: %s", out)
	}
	if out := c.ok("config", "get", "helloworld.apikey", "--secret"); out != secret+"\n" {
		t.Fatalf("get --secret: %q", out)
	}
	c.ok("config", "del", "helloworld.db")
	if _, errOut, code := c.run("config", "get", "helloworld.db.port"); code != 1 || !strings.Contains(errOut, "Not found") {
		t.Fatalf("after del: exit %d %s", code, errOut)
	}
	if _, errOut, code := c.run("config", "set", "helloworld.greeting.x", "1"); code != 1 || !strings.Contains(errOut, "not an object") {
		t.Fatalf("through a scalar: exit %d %s", code, errOut)
	}

	// Through the gateway, as any call.
	code, body := postAs(t, s.adminToken(t), s.gateway+"/config/Config/Get", `{"path":"helloworld.greeting"}`)
	// revision is the namespace's change count, a JSON string as protojson
	// writes 64-bit integers.
	if code != 200 || !strings.HasPrefix(body, `{"value":{"data":"\"Hi\"","format":"json"},"revision":"`) {
		t.Fatalf("gateway get: %d %s", code, body)
	}

	// The secret is not in the file (nor a WAL) once the server stops.
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, f := range []string{s.data, s.data + "-wal"} {
		raw, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("%s holds the secret in clear text", f)
		}
	}
	// The key lives in the file too: after a restart the secret reads back.
	s2 := startServer(t, s.data)
	if out := newAdminCLI(t, s2).ok("config", "get", "helloworld.apikey", "--secret"); out != secret+"\n" {
		t.Fatalf("after restart: %q", out)
	}
}

// TestConfigSecretKeyFlag: a key given to the server seals secrets; a bad
// one keeps the server from starting, with the reason.
func TestConfigSecretKeyFlag(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	s := startServer(t, "", "--config-secret-key", key)
	c := newAdminCLI(t, s)
	c.ok("config", "set", "db.password", "hunter2", "--secret")
	s.stop(syscall.SIGTERM)

	// Started without the key, the server cannot open the secret, and says so.
	s2 := startServer(t, s.data)
	_, errOut, code := newAdminCLI(t, s2).run("config", "get", "db.password", "--secret")
	if code == 0 || !strings.Contains(errOut, "sealed with key") {
		t.Fatalf("without the key: exit %d %s", code, errOut)
	}
	s2.stop(syscall.SIGTERM)
	s3 := startServer(t, s.data, "--config-secret-key", key)
	if out := newAdminCLI(t, s3).ok("config", "get", "db.password", "--secret"); out != "hunter2\n" {
		t.Fatalf("with the key again: %q", out)
	}

	c2 := newCLI(t, nil)
	_, errOut, code = c2.run("server", "--data", t.TempDir()+"/x.db", "--gateway-address", "127.0.0.1:0",
		"--proxy-address", "127.0.0.1:0", "--dashboard-address", "", "--config-secret-key", "short")
	if code != 1 || !strings.Contains(errOut, "config-secret-key") {
		t.Fatalf("bad key: exit %d %s", code, errOut)
	}
}
