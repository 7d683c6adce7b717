package e2e

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestServerRefusesBadData: each bad --data exits 1 with one line saying what
// is wrong, and leaves the file as it was.
func TestServerRefusesBadData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 20), 0o600)

	foreign := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	readonly := filepath.Join(dir, "ro")
	os.Mkdir(readonly, 0o500)

	inUse := filepath.Join(dir, "busy.db")
	startServer(t, inUse)

	cases := []struct {
		name, data, want string
	}{
		{"directory", dir, "is a directory"},
		{"not sqlite", text, "not a SQLite database"},
		{"foreign sqlite", foreign, "did not create"},
		{"in use", inUse, "in use by another running micro server"},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		cases = append(cases, struct{ name, data, want string }{"unwritable", filepath.Join(readonly, "micro.db"), "permission denied"})
	}
	c := newCLI(t, nil)
	for _, tc := range cases {
		var before []byte
		if fi, err := os.Stat(tc.data); err == nil && !fi.IsDir() {
			before, _ = os.ReadFile(tc.data)
		}
		out, errOut, code := c.run("server", "--data", tc.data,
			"--gateway-address", "127.0.0.1:0", "--proxy-address", "127.0.0.1:0", "--dashboard-address", "")
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\nstdout %s\nstderr %s", tc.name, code, out, errOut)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if !strings.Contains(last, tc.want) || !strings.HasPrefix(last, "micro server: ") {
			t.Fatalf("%s: stderr %q, want one line with %q", tc.name, errOut, tc.want)
		}
		if before != nil {
			after, _ := os.ReadFile(tc.data)
			if !bytes.Equal(before, after) {
				t.Fatalf("%s: the refused file was changed", tc.name)
			}
		}
	}
}
