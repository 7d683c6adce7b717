package bench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/node"
	"micro.dev/micro/schema"
)

// bin is the micro binary the process benchmarks run; make bench-peers
// builds it.
func bin(b *testing.B) string {
	path := os.Getenv("MICRO_BIN")
	if path == "" {
		b.Skip("MICRO_BIN is not set: run make bench-peers, or point it at a built micro binary")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		b.Fatal(err)
	}
	return abs
}

// BenchmarkServer measures a micro server process: its resident memory
// once started and idle (MB), and the time from exec to its gateway
// answering GET /health (ms, the mean of starts), on a new database and on
// one of 1 GB. Each start costs a process, so the count is fixed rather
// than grown to the benchmark time; ns/op means nothing here.
func BenchmarkServer(b *testing.B) {
	micro := bin(b)
	b.Run("idle-rss", func(b *testing.B) {
		p := startServer(b, micro, filepath.Join(b.TempDir(), "micro.db"))
		time.Sleep(2 * time.Second) // settled: start-up garbage collected
		b.ReportMetric(p.statusMB(b, "/status", "VmRSS:"), "MB")
		// Of which the process's own memory (heap, stacks), the rest being
		// pages of the binary itself mapped from its file.
		b.ReportMetric(p.statusMB(b, "/smaps_rollup", "Anonymous:"), "anon-MB")
		p.stop(b)
	})
	for _, size := range []struct {
		name  string
		bytes int64
	}{{"empty", 0}, {"1GB", 1 << 30}} {
		b.Run("start-"+size.name, func(b *testing.B) {
			data := filepath.Join(b.TempDir(), "micro.db")
			fillDatabase(b, data, size.bytes)
			p := startServer(b, micro, data) // the first start creates or checks what later ones reuse
			p.stop(b)
			const starts = 5
			var total, cpu time.Duration
			for range starts {
				t0 := time.Now()
				p := startServer(b, micro, data)
				total += time.Since(t0)
				cpu += p.cpuTime(b)
				p.stop(b)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/starts, "ms/start")
			// The CPU the process spent until serving: what the start costs
			// whatever else loads the machine.
			b.ReportMetric(float64(cpu.Microseconds())/1000/starts, "cpu-ms/start")
		})
	}
}

type serverProc struct {
	cmd *exec.Cmd
}

// startServer execs micro server on data with loopback ports and returns
// once its gateway answers GET /health.
func startServer(b *testing.B, micro, data string) *serverProc {
	gw := freePort(b)
	cmd := exec.Command(micro, "server", "--data", data, "--gateway-address", gw,
		"--proxy-address", "127.0.0.1:0", "--dashboard-address", "")
	cmd.Env = append(os.Environ(), "MICRO_LOG_LEVEL=warn")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &serverProc{cmd: cmd}
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		rsp, err := c.Get("http://" + gw + "/health")
		if err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			p.stop(b)
			b.Fatalf("micro server on %s not serving after a minute: %v", data, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// statusMB reads a "<field> <n> kB" line of a /proc/<pid> file.
func (p *serverProc) statusMB(b *testing.B, file, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d%s", p.cmd.Process.Pid, file))
	if err != nil {
		b.Skip("no /proc here:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in %s", field, file)
	return 0
}

// cpuTime is the CPU time (user and system) the process has used so far.
func (p *serverProc) cpuTime(b *testing.B) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Skip("no /proc here:", err)
	}
	// Fields after the command name, which ends with the last ')': utime
	// and stime are the 12th and 13th, in clock ticks (100 a second on
	// Linux).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (p *serverProc) stop(b *testing.B) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
		b.Fatal("micro server did not stop within 30s of SIGTERM")
	}
}

func freePort(b *testing.B) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// fillDatabase creates a micro database at path holding about size bytes
// of store records (10 KB values), written straight through the schema
// package in large transactions.
func fillDatabase(b *testing.B, path string, size int64) {
	ctx := context.Background()
	db, err := schema.Open(ctx, path, schema.Options{Migrations: node.Migrations()})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 10<<10)
	for i := range value {
		value[i] = byte(i*7 + i>>8)
	}
	rows := size / int64(len(value))
	const perTx = 2000
	now := time.Now().UnixNano()
	for start := int64(0); start < rows; start += perTx {
		err := db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO store_records (db, tbl, key, revision, created_at, updated_at, value)
				VALUES ('micro', 'bench', ?, 1, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := start; i < min(start+perTx, rows); i++ {
				if _, err := stmt.ExecContext(ctx, fmt.Sprintf("key-%09d", i), now, now, value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}
