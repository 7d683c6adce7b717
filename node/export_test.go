package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/admin"
	authpb "micro.dev/micro/proto/auth"
	configpb "micro.dev/micro/proto/config"
	eventspb "micro.dev/micro/proto/events"
	storepb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// backupTo streams n's admin.Backup, called with ctx, into path.
func backupTo(t *testing.T, ctx context.Context, n *Node, path string) error {
	stream, err := pb.NewAdminClient(testkit.Dial(t, n.ProxyAddr())).Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return err
	}
	var data []byte
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return os.WriteFile(path, data, 0o600)
		}
		if err != nil {
			return err
		}
		data = append(data, chunk.GetData()...)
	}
}

// clusterState is what TestClusterBackup writes and reads back.
type clusterState struct {
	record, secret string
	events         []*eventspb.Event
	groups         []string
}

// readState reads the state back through n: the record, the secret in
// clear, every event of topic orders and its groups; and alice logs in.
func readState(t *testing.T, n *Node) clusterState {
	t.Helper()
	conn := testkit.Dial(t, n.ProxyAddr())
	ctx := adminCtx(t, n)
	var st clusterState
	rec, err := storepb.NewStoreClient(conn).Read(ctx, &storepb.ReadRequest{Key: "k"})
	if err != nil || len(rec.GetRecords()) != 1 {
		t.Fatalf("read k: %v %v", rec, err)
	}
	st.record = string(rec.Records[0].GetValue())
	sec, err := configpb.NewConfigClient(conn).Get(ctx, &configpb.GetRequest{Path: "db.password", Options: &configpb.Options{Secret: true}})
	if err != nil {
		t.Fatalf("config secret: %v", err)
	}
	st.secret = sec.GetValue().GetData()
	evs, err := eventspb.NewStoreClient(conn).Read(ctx, &eventspb.ReadRequest{Topic: "orders"})
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	st.events = evs.GetEvents()
	topics, err := eventspb.NewTopicsClient(conn).List(ctx, &eventspb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics.GetTopics() {
		if tp.GetName() == "orders" {
			st.groups = tp.GetGroups()
		}
	}
	if _, err := authpb.NewAuthClient(conn).Token(t.Context(), &authpb.TokenRequest{Id: "alice", Secret: "alice-pw",
		Options: &authpb.Options{Namespace: "micro"}}); err != nil {
		t.Fatalf("alice logs in: %v", err)
	}
	return st
}

func sameState(t *testing.T, where string, got, want clusterState) {
	t.Helper()
	if got.record != want.record || got.secret != want.secret || !slices.Equal(got.groups, want.groups) || len(got.events) != len(want.events) {
		t.Fatalf("%s: got %+v, want %+v", where, got, want)
	}
	for i, w := range want.events {
		g := got.events[i]
		if g.GetId() != w.GetId() || g.GetSequence() != w.GetSequence() || g.GetTimestamp() != w.GetTimestamp() ||
			string(g.GetPayload()) != string(w.GetPayload()) || g.GetMetadata()["i"] != w.GetMetadata()["i"] {
			t.Fatalf("%s: event %d: got %v, want %v", where, i, g, w)
		}
	}
}

// TestClusterBackup runs a three-node cluster in process with scheduled
// backups on every node: the node leading JetStream takes them, the others
// stand by naming it. micro backup through a node streams the cluster's
// state exported into a file an appliance starts on and serves the same
// (a record, a secret, a user's login, events with their numbers and ids,
// a durable group); the same file imported into a fresh cluster serves the
// same again. Only an administrator of micro may take a backup, and a
// backup never overwrites a file or leaves one half written.
func TestClusterBackup(t *testing.T) {
	dir := t.TempDir()
	snapshots := t.TempDir()
	cfgs := clusterConfigs(t, dir, 3)
	for i := range cfgs {
		cfgs[i].BackupTo, cfgs[i].BackupEvery = snapshots, time.Hour
	}
	nodes := startNodes(t, cfgs)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			for _, n := range nodes {
				n.Close() // the last ones lose their majority: errors are expected
			}
		}
	}
	t.Cleanup(stop)

	// The scheduled backups: one node takes them, the others stand by.
	deadline := time.Now().Add(time.Minute)
	for {
		var took, standby []string
		for _, n := range nodes {
			st := n.backups.Status()
			if st.Successes > 0 {
				took = append(took, n.id)
			} else if st.Standby != "" && st.Standby != "no leader" {
				standby = append(standby, st.Standby)
			}
		}
		if len(took) == 1 && len(standby) == 2 && standby[0] == took[0] && standby[1] == took[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled backups: taken by %v, standing by for %v", took, standby)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if snaps, _ := filepath.Glob(filepath.Join(snapshots, "micro-*.db.gz")); len(snaps) != 1 {
		t.Fatalf("snapshots at the destination: %v, want the leader's one", snaps)
	}

	n := nodes[1]
	conn := testkit.Dial(t, n.ProxyAddr())
	ctx := adminCtx(t, n)
	if _, err := storepb.NewStoreClient(conn).Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: "k", Value: []byte("in the cluster")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := configpb.NewConfigClient(conn).Set(ctx, &configpb.SetRequest{Path: "db.password", Value: &configpb.Value{Data: `"s3cret"`},
		Options: &configpb.Options{Secret: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := authpb.NewAuthClient(conn).Generate(ctx, &authpb.GenerateRequest{Id: "alice", Type: "user", Secret: "alice-pw",
		Options: &authpb.Options{Namespace: "micro"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := eventspb.NewStreamClient(conn).Publish(ctx, &eventspb.PublishRequest{Topic: "orders", Payload: []byte(fmt.Sprint(i)),
			Metadata: map[string]string{"i": fmt.Sprint(i)}, Timestamp: int64(100 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	consumer, err := eventspb.NewStreamClient(conn).Consume(cctx)
	if err == nil {
		err = consumer.Send(&eventspb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true})
	}
	if err == nil {
		_, err = consumer.Recv() // the group is saved before it is sent an event
	}
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	want := readState(t, n)
	if want.record != "in the cluster" || want.secret != `"s3cret"` || len(want.events) != 3 || len(want.groups) != 1 {
		t.Fatalf("the cluster's state: %+v", want)
	}

	// Refused: anonymous, a user who is not an administrator of micro.
	alice, err := authpb.NewAuthClient(conn).Token(t.Context(), &authpb.TokenRequest{Id: "alice", Secret: "alice-pw",
		Options: &authpb.Options{Namespace: "micro"}})
	if err != nil {
		t.Fatal(err)
	}
	asAlice := grpcmd.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+alice.GetToken().GetAccessToken())
	for _, tc := range []struct {
		who  string
		ctx  context.Context
		code int32
	}{{"anonymous", t.Context(), 401}, {"a user", asAlice, 403}} {
		path := filepath.Join(t.TempDir(), "refused.db")
		if err := backupTo(t, tc.ctx, n, path); errors.Code(err) != tc.code {
			t.Errorf("backup by %s: %v, want a %d", tc.who, err, tc.code)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("backup by %s wrote a file", tc.who)
		}
	}
	// The node's own Backup (what --backup-to stages) refuses a file that
	// exists and a directory it cannot write, leaving nothing.
	taken := filepath.Join(t.TempDir(), "taken.db")
	if err := os.WriteFile(taken, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Backup(t.Context(), taken); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("export over a file: %v", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "mine" {
		t.Errorf("the file was overwritten: %q", b)
	}
	if err := n.Backup(t.Context(), filepath.Join(dir, "no such dir", "x.db")); err == nil {
		t.Error("export into a missing directory succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".micro-backup-*")); len(left) > 0 {
		t.Fatalf("left beside the database: %v", left)
	}

	file := filepath.Join(t.TempDir(), "cluster.db")
	if err := backupTo(t, ctx, n, file); err != nil {
		t.Fatalf("micro backup of the cluster: %v", err)
	}
	if _, err := schema.Check(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	// A copy to import, before the appliance opens (and so owns) the file.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	imported := filepath.Join(t.TempDir(), "import.db")
	if err := os.WriteFile(imported, data, 0o600); err != nil {
		t.Fatal(err)
	}

	app := startAppliance(t, file)
	sameState(t, "an appliance on the backup", readState(t, app), want)

	stop()
	fresh := clusterConfigs(t, t.TempDir(), 3)
	fresh[0].ClusterImport = imported
	again := startNodes(t, fresh)
	for _, n := range again {
		t.Cleanup(func() { n.Close() })
	}
	sameState(t, "a fresh cluster that imported the backup", readState(t, again[2]), want)
}
