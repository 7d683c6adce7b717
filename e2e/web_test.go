package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWeb runs `micro web` alone against a gateway elsewhere: the page it
// serves points the browser at that gateway, and a bad --api is refused.
func TestWeb(t *testing.T) {
	t.Parallel()
	c := newCLI(t, nil)
	if _, errOut, code := c.run("web", "--api", "ftp://example.com"); code != 1 || !strings.Contains(errOut, "--api") {
		t.Errorf("micro web --api ftp://: exit %d, %q", code, errOut)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, "web", "--address", "127.0.0.1:0", "--api", "https://api.example.com")
	cmd.Env = c.env
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatalf("micro web said nothing: %v", err)
	}
	m := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("micro web: %q names no address", line)
	}
	code, page := get(t, m[1]+"/login")
	if code != 200 || !strings.Contains(page, `<meta name="micro-api" content="https://api.example.com">`) {
		t.Errorf("GET /login: %d\n%s", code, page)
	}
}
