package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/backup"
	"micro.dev/micro/backup/backuptest"
	"micro.dev/micro/internal/testkit"
)

// TestScheduledBackups: a server with --backup-to takes backups on its
// schedule to a directory and to an S3-compatible bucket (gofakes3 on
// loopback), keeps --backup-keep of them, lists them in `micro backups`,
// and `micro restore` makes a file a new server starts on with every key
// written before the backup.
func TestScheduledBackups(t *testing.T) {
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "backups")
		testScheduledBackups(t, dir, dir, nil)
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		fake := backuptest.NewS3(t, "backups")
		target := "s3://backups/node-1?endpoint=" + fake.Endpoint
		testScheduledBackups(t, target, target, fake.Env())
	})
}

func testScheduledBackups(t *testing.T, target, restoreFrom string, env []string) {
	s := startServerEnv(t, "", env, "--backup-to", target, "--backup-every", "300ms", "--backup-keep", "2")
	token := s.adminToken(t)
	const keys = 200
	for i := range keys {
		body := fmt.Sprintf(`{"record":{"key":"k%03d","value":%q}}`, i, base64.StdEncoding.EncodeToString([]byte(fmt.Sprint("value-", i))))
		if code, rsp := postAs(t, token, s.gateway+"/store/Store/Write", body); code/100 != 2 {
			t.Fatalf("write k%03d: %d %s", i, code, rsp)
		}
	}
	written := time.Now()
	c := newAdminCLI(t, s)
	c.env = append(c.env, env...)

	// Wait for a backup taken after the writes, and for retention to have
	// had something to delete.
	deadline := time.Now().Add(60 * time.Second)
	var out, newest string
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no backup after the writes within 60s\n%s\n%s", out, s.log())
		}
		time.Sleep(200 * time.Millisecond)
		fams := scrapeMetrics(t, s, "Bearer "+token)
		if sample(fams, "micro_backup_successes_total") < 3 || sample(fams, "micro_backup_last_success_timestamp_seconds") < float64(written.Unix()) {
			continue
		}
		if sample(fams, "micro_backup_failing") != 0 {
			t.Fatalf("micro_backup_failing after a good backup\n%s", s.log())
		}
		out = c.ok("backups")
		names := snapshotNames(out)
		if len(names) != 2 {
			continue // retention keeps 2 (a third is seen between a put and its pruning)
		}
		if taken, ok := backup.ParseName(names[0]); ok && taken.After(written) {
			newest = names[0]
			break
		}
	}

	// micro backups, asking the server, and reading the destination itself.
	if !strings.Contains(out, "Destination:") || !strings.Contains(out, "keep 2") || strings.Contains(out, "FAILED") ||
		!strings.Contains(out, " ok\n") {
		t.Fatalf("micro backups:\n%s", out)
	}
	if direct := c.ok("backups", target); len(snapshotNames(direct)) < 2 || !strings.Contains(direct, "INTEGRITY") {
		t.Fatalf("micro backups %s:\n%s", target, direct)
	}
	// Only an admin of namespace micro may look.
	if _, errOut, code := newCLI(t, s).run("backups"); code == 0 {
		t.Fatalf("anonymous micro backups succeeded: %s", errOut)
	}
	if code, body := get(t, s.gateway+"/health"); code != 200 || !strings.Contains(body, `"status":"ok"`) ||
		!strings.Contains(body, `"last_success"`) {
		t.Fatalf("GET /health: %d %s", code, body)
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("server exit: %v\n%s", err, s.log())
	}

	// Restore the newest (by naming the destination) and start on it.
	restorer := newCLI(t, nil)
	restorer.env = append(restorer.env, env...)
	file := filepath.Join(t.TempDir(), "restored.db")
	if out := restorer.ok("restore", restoreFrom, file); !strings.Contains(out, "micro server --data "+file) {
		t.Fatalf("restore: %s", out)
	}
	// An existing file needs --force; a named snapshot restores that one.
	if _, errOut, code := restorer.run("restore", restoreFrom, file); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("restore over an existing file: exit %d %s", code, errOut)
	}
	// What is there now, read without a server.
	// A stop between a put and its pruning leaves one more, pruned by the
	// next backup.
	if names := snapshotNames(restorer.ok("backups", target)); len(names) < 2 || len(names) > 3 {
		t.Fatalf("after the server stopped: %v", names)
	} else {
		newest = names[0]
	}
	named := strings.TrimSuffix(strings.Split(restoreFrom, "?")[0], "/") + "/" + newest
	if i := strings.Index(restoreFrom, "?"); i >= 0 {
		named += restoreFrom[i:]
	}
	restorer.ok("restore", "--force", named, file)

	s2 := startServer(t, file)
	token = s2.adminToken(t)
	for i := range keys {
		code, body := postAs(t, token, s2.gateway+"/store/Store/Read", fmt.Sprintf(`{"key":"k%03d"}`, i))
		var rsp struct {
			Records []struct {
				Value []byte `json:"value"`
			} `json:"records"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &rsp) != nil || len(rsp.Records) != 1 ||
			string(rsp.Records[0].Value) != fmt.Sprint("value-", i) {
			t.Fatalf("restored server, k%03d: %d %s", i, code, body)
		}
	}
}

// TestFailedBackupVisible: a destination nobody answers makes a failed
// backup that shows in the log (error), GET /health's detail (while the
// node stays ready), /metrics and `micro backups`.
func TestFailedBackupVisible(t *testing.T) {
	t.Parallel()
	ln := testkit.Listen(t)
	closed := ln.Addr().String()
	ln.Close()
	env := []string{"AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s", "MICRO_BACKUP_S3_ENDPOINT=http://" + closed}
	s := startServerEnv(t, "", env, "--backup-to", "s3://backups/x", "--backup-every", "1h")

	deadline := time.Now().Add(30 * time.Second)
	var health string
	for {
		code, body := get(t, s.gateway+"/health")
		if code != 200 {
			t.Fatalf("GET /health with a failing backup: %d %s (the node still serves)", code, body)
		}
		if strings.Contains(body, `"failing"`) {
			health = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failing backup in /health within 30s: %s\n%s", body, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(health, "connection refused") || !strings.Contains(health, "s3://backups/x/") {
		t.Fatalf("GET /health: %s", health)
	}
	// The server logs the failure as it records it; the line may reach
	// the test's reader of its stderr after /health has answered.
	testkit.Eventually(t, 10*time.Second, "the backup's failure logged", func() bool {
		return strings.Contains(s.log(), `"level":"ERROR","msg":"backup failed"`)
	})
	fams := scrapeMetrics(t, s, "Bearer "+s.adminToken(t))
	if sample(fams, "micro_backup_failures_total") < 1 || sample(fams, "micro_backup_failing") != 1 ||
		sample(fams, "micro_backup_last_success_timestamp_seconds") != 0 {
		t.Fatalf("metrics: failures %v failing %v last success %v", sample(fams, "micro_backup_failures_total"),
			sample(fams, "micro_backup_failing"), sample(fams, "micro_backup_last_success_timestamp_seconds"))
	}
	out := newAdminCLI(t, s).ok("backups")
	if !strings.Contains(out, "LAST BACKUP FAILED") || !strings.Contains(out, "connection refused") ||
		!regexp.MustCompile(`Last success: +never`).MatchString(out) {
		t.Fatalf("micro backups:\n%s", out)
	}
}

// TestBackupFlagsRefused: a destination that cannot be used refuses the
// start with a message naming the flag.
func TestBackupFlagsRefused(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, tc := range []struct{ args []string }{
		{[]string{"--backup-to", "ftp://host/x"}},
		{[]string{"--backup-to", "s3://k:secret@bucket/x"}},
		{[]string{"--backup-to", t.TempDir(), "--backup-every", "-1s"}},
		{[]string{"--backup-to", t.TempDir(), "--backup-every", "0"}},
	} {
		wg.Go(func() {
			c := newCLI(t, nil)
			args := append([]string{"server", "--data", filepath.Join(t.TempDir(), "m.db"), "--gateway-address", "127.0.0.1:0",
				"--proxy-address", "127.0.0.1:0", "--dashboard-address", ""}, tc.args...)
			_, errOut, code := c.run(args...)
			if code == 0 || !strings.Contains(errOut, "backup") || strings.Contains(errOut, "secret") {
				t.Errorf("%v: exit %d %s", tc.args, code, errOut)
			}
		})
	}
	wg.Wait()
}

// snapshotNames are the snapshot names in a listing of micro backups.
func snapshotNames(listing string) []string {
	var names []string
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if _, ok := backup.ParseName(f[0]); ok {
				names = append(names, f[0])
			}
		}
	}
	return names
}
