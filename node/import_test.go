package node

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/admin"
	storepb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// startAppliance starts a node on data that is not clustered.
func startAppliance(t *testing.T, data string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Config{Data: data, GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// adminCtx is ctx with the default admin's token of n.
func adminCtx(t *testing.T, n *Node) context.Context {
	tok := newWalker(t, n).login("micro", "admin", "micro")
	return grpcmd.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// importBytes streams data to n's admin.Import as a file of size bytes.
func importBytes(t *testing.T, n *Node, size int64, data []byte, merge bool) (*pb.ImportResponse, error) {
	stream, err := pb.NewAdminClient(testkit.Dial(t, n.ProxyAddr())).Import(adminCtx(t, n))
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&pb.ImportChunk{Size: size, Merge: merge, Data: data}); err != nil {
		return stream.CloseAndRecv()
	}
	return stream.CloseAndRecv()
}

// TestImport runs a three-node cluster in process, the first node
// started with --cluster-import of an appliance's file. The import is
// there on another node; a node that is not clustered refuses micro
// cluster import; the node checks what arrives itself (the CLI's checks
// are the caller's): a size out of bounds, fewer or more bytes than
// announced, a file that is not a micro database, one from a newer micro
// are refused saying what to fix, with nothing left beside the database;
// the first node restarted with --cluster-import still given leaves the
// cluster, which holds data now, as it is.
func TestImport(t *testing.T) {
	appliance := filepath.Join(t.TempDir(), "a.db")
	app := startAppliance(t, appliance)
	ctx := adminCtx(t, app)
	if _, err := storepb.NewStoreClient(testkit.Dial(t, app.ProxyAddr())).Write(ctx,
		&storepb.WriteRequest{Record: &storepb.Record{Key: "k", Value: []byte("from the appliance")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := importBytes(t, app, 10, []byte("0123456789"), false); errors.Code(err) != 412 || !strings.Contains(err.Error(), "is for a node of a cluster") {
		t.Fatalf("import into an appliance: %v, want a 412", err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgs := clusterConfigs(t, dir, 3)
	cfgs[0].ClusterImport = appliance
	nodes := startNodes(t, cfgs)
	for _, n := range nodes[1:] {
		t.Cleanup(func() { n.Close() })
	}
	read := func(n *Node) string {
		t.Helper()
		rsp, err := storepb.NewStoreClient(testkit.Dial(t, n.ProxyAddr())).Read(adminCtx(t, n), &storepb.ReadRequest{Key: "k"})
		if err != nil || len(rsp.GetRecords()) != 1 {
			t.Fatalf("read k: %v %v", rsp, err)
		}
		return string(rsp.Records[0].GetValue())
	}
	if got := read(nodes[1]); got != "from the appliance" {
		t.Fatalf("after --cluster-import, through another node: %q", got)
	}

	newer := filepath.Join(t.TempDir(), "newer.db")
	db, err := schema.Open(t.Context(), newer, schema.Options{Migrations: Migrations()})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (block, version, name) VALUES ('store', 999, 'from the future')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	newerBytes, err := os.ReadFile(newer)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("not a database ", 100))
	for _, tc := range []struct {
		name string
		size int64
		data []byte
		code int32
		want string
	}{
		{"no size", 0, nil, 400, "give a size from 1"},
		{"too large", MaxImportSize + 1, nil, 400, "give a size from 1"},
		{"cut short", 1000, []byte("abc"), 400, "3 of the 1000 bytes announced arrived"},
		{"more than announced", 2, []byte("abc"), 400, "more than the 2 bytes announced"},
		{"not a database", int64(len(junk)), junk, 400, "not a SQLite database"},
		{"newer micro", int64(len(newerBytes)), newerBytes, 412, "written by a newer micro"},
	} {
		_, err := importBytes(t, nodes[2], tc.size, tc.data, true)
		if errors.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a %d saying %q", tc.name, err, tc.code, tc.want)
		}
	}
	// A file larger than the disk's free space is refused before a byte
	// is written (checked where the disk has less free than the largest
	// import allowed).
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil {
		if free := int64(st.Bavail) * int64(st.Bsize); free < MaxImportSize {
			_, err := importBytes(t, nodes[2], free+1, []byte("x"), true)
			if errors.Code(err) != 507 || !strings.Contains(err.Error(), "no room for the file") {
				t.Errorf("a file larger than the free space: %v, want a 507", err)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".micro-import-*")); len(left) > 0 {
		t.Fatalf("left beside the database: %v", left)
	}

	if _, err := storepb.NewStoreClient(testkit.Dial(t, nodes[1].ProxyAddr())).Write(adminCtx(t, nodes[1]),
		&storepb.WriteRequest{Record: &storepb.Record{Key: "k", Value: []byte("changed in the cluster")}}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Start(context.Background(), cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if got := read(again); got != "changed in the cluster" {
		t.Fatalf("a restart with --cluster-import imported again: %q", got)
	}
}
