//go:build unix

package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/runtime"
	"micro.dev/micro/schema"
)

// TestBackendBehaviour runs the Backend contract over both backends:
// services (put, get, list, status merge, delete with source and logs),
// source archives, log reads by id, time and tail, and the process table.
func TestBackendBehaviour(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend func(*Config)) {
		cfg := testConfig(t)
		backend(&cfg)
		db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"), schema.Options{Migrations: []schema.Migrations{Migrations}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		r := New(db, auth.Namespaces, cfg)
		b, c := r.backend, t.Context()

		a := Service{Key: Key{"micro", "a", "latest"}, Kind: KindLocal, Source: "/src/a", Env: []string{"K=V"},
			Status: StatusPending, Metadata: map[string]string{"owner": "admin"}}
		other := Service{Key: Key{"team", "b", "v1"}, Kind: KindGit, Source: "https://example.invalid/b", Ref: "main"}
		for _, s := range []Service{other, a} {
			if err := b.PutService(c, s); err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := b.GetService(c, a.Key)
		if err != nil || !ok || got.Source != a.Source || !slices.Equal(got.Env, a.Env) || got.Metadata["owner"] != "admin" {
			t.Fatalf("get: %+v %v %v", got, ok, err)
		}
		if _, ok, err := b.GetService(c, Key{"micro", "none", "latest"}); ok || err != nil {
			t.Fatalf("get a missing service: %v %v", ok, err)
		}
		all, err := b.ListServices(c, "")
		if err != nil || len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" {
			t.Fatalf("list all: %v %v", all, err)
		}
		if team, err := b.ListServices(c, "team"); err != nil || len(team) != 1 || team[0].Ref != "main" {
			t.Fatalf("list team: %v %v", team, err)
		}
		if err := b.SetStatus(c, a.Key, StatusRunning, map[string]string{"started": "now", "owner": ""}); err != nil {
			t.Fatal(err)
		}
		got, _, _ = b.GetService(c, a.Key)
		if got.Status != StatusRunning || got.Metadata["started"] != "now" || got.Metadata["owner"] != "" {
			t.Fatalf("after SetStatus: %v %v", got.Status, got.Metadata)
		}
		if err := b.SetStatus(c, Key{"micro", "gone", "latest"}, StatusRunning, nil); err != nil {
			t.Fatalf("status of a deleted service: %v", err)
		}

		if err := b.PutSource(c, a.Key, []byte("tar.gz bytes")); err != nil {
			t.Fatal(err)
		}
		if data, ok, err := b.GetSource(c, a.Key); err != nil || !ok || string(data) != "tar.gz bytes" {
			t.Fatalf("source: %q %v %v", data, ok, err)
		}

		t0 := time.Unix(1_700_000_000, 0)
		var lines []LogLine
		for i := range 10 {
			lines = append(lines, LogLine{Time: t0.Add(time.Duration(i) * time.Second), Stream: StreamStdout, Message: fmt.Sprint("line ", i), Instance: "i1"})
		}
		if err := b.AppendLogs(c, a.Key, lines[:6], LogCap{}); err != nil {
			t.Fatal(err)
		}
		if err := b.AppendLogs(c, other.Key, []LogLine{{Time: t0, Stream: StreamStderr, Message: "other"}}, LogCap{}); err != nil {
			t.Fatal(err)
		}
		if err := b.AppendLogs(c, a.Key, lines[6:], LogCap{}); err != nil {
			t.Fatal(err)
		}
		read := func(q LogQuery) []string {
			t.Helper()
			ls, err := b.ReadLogs(c, a.Key, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for i, l := range ls {
				if i > 0 && l.ID <= ls[i-1].ID {
					t.Fatalf("ids not increasing: %v", ls)
				}
				out = append(out, l.Message)
			}
			return out
		}
		if got := read(LogQuery{}); len(got) != 10 || got[0] != "line 0" || got[9] != "line 9" {
			t.Fatalf("all lines: %v", got)
		}
		if got := read(LogQuery{Last: 3}); strings.Join(got, ",") != "line 7,line 8,line 9" {
			t.Fatalf("last 3: %v", got)
		}
		if got := read(LogQuery{Since: t0.Add(8 * time.Second)}); strings.Join(got, ",") != "line 8,line 9" {
			t.Fatalf("since: %v", got)
		}
		ls, _ := b.ReadLogs(c, a.Key, LogQuery{})
		if got := read(LogQuery{AfterID: ls[7].ID}); strings.Join(got, ",") != "line 8,line 9" {
			t.Fatalf("after id: %v", got)
		}

		if err := b.AddProcess(c, Process{PGID: 4242, Instance: "i1", Key: a.Key, Started: t0}); err != nil {
			t.Fatal(err)
		}
		if ps, err := b.Processes(c); err != nil || len(ps) != 1 || ps[0].PGID != 4242 {
			t.Fatalf("processes: %v %v", ps, err)
		}
		var n int
		if err := db.Read().QueryRow(`SELECT count(*) FROM runtime_processes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("the process table is the node's own, in its file: %d %v", n, err)
		}

		if err := b.DeleteService(c, a.Key); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := b.GetService(c, a.Key); ok {
			t.Fatal("service survived its deletion")
		}
		if _, ok, _ := b.GetSource(c, a.Key); ok {
			t.Fatal("source survived its service's deletion")
		}
		if got := read(LogQuery{}); len(got) != 0 {
			t.Fatalf("logs survived their service's deletion: %v", got)
		}
		if ls, err := b.ReadLogs(c, other.Key, LogQuery{}); err != nil || len(ls) != 1 {
			t.Fatalf("another service's logs: %v %v", ls, err)
		}
	})
}

// TestClusterR3: a service created through node A of an R3 cluster runs on
// A only; node B answers its status (naming A) and its logs, refuses to
// update or delete it, and does not start it when B starts.
func TestClusterR3(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	envs := make([]*testEnv, 2)
	for i := range envs {
		cfg := testConfig(t)
		cfg.JetStream, cfg.Replicas = natstest.Connect(t, servers[i]), 3
		envs[i] = newEnv(t, cfg)
	}
	a, b := envs[0], envs[1]
	a.mustCreate("ticker", testdata(t, "ticker"), nil, false)
	a.waitStatus("ticker", StatusRunning, 30*time.Second)

	svc := b.waitStatus("ticker", StatusRunning, 10*time.Second)
	if svc.Metadata["node"] != servers[0].Name() {
		t.Fatalf("status through B names node %q, want %q", svc.Metadata["node"], servers[0].Name())
	}
	b.waitLog("ticker", "ticker tick 2", 10*time.Second)

	_, err := b.client.Update(ctx(t), &pb.UpdateRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}}})
	if errCode(err) != 412 || !strings.Contains(err.Error(), servers[0].Name()) {
		t.Fatalf("update through B: %v", err)
	}
	_, err = b.client.Delete(ctx(t), &pb.DeleteRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}}})
	if errCode(err) != 412 {
		t.Fatalf("delete through B: %v", err)
	}

	// B restarts: it does not start A's service.
	b.close()
	b.open()
	time.Sleep(time.Second)
	if procs := b.processes("ticker"); len(procs) != 0 {
		t.Fatalf("B started A's service: %v", procs)
	}
	if procs := a.processes("ticker"); len(procs) != 1 {
		t.Fatalf("A runs %d processes of its service", len(procs))
	}
	// A deletes it; B sees it gone.
	if _, err := a.client.Delete(ctx(t), &pb.DeleteRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}}}); err != nil {
		t.Fatal(err)
	}
	if b.service("ticker") != nil {
		t.Fatal("B still lists the deleted service")
	}
}
