package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/cluster"
	"micro.dev/micro/node"
	pb "micro.dev/micro/proto/admin"
	"micro.dev/micro/schema"
)

// serverClusterFlags are `micro server`'s flags for running as a node of a
// cluster (node/cluster.go); without --cluster none of it runs.
func serverClusterFlags(fs *flag.FlagSet, cfg *node.Config) {
	c := &cfg.Cluster
	fs.StringVar(&c.Listen, "cluster", "", "run as a node of a cluster: its route listener, nats://`HOST:PORT` (such as nats://0.0.0.0:6222)")
	fs.Var((*nameList)(&c.Peers), "cluster-peers", "comma-separated route addresses of the other nodes (`host:port,...`)")
	fs.StringVar(&c.Name, "cluster-name", cluster.DefaultName, "the cluster's `name`; nodes join only a cluster of their name")
	fs.StringVar(&c.Secret, "cluster-secret", "", "shared `secret` nodes authenticate their routes with (at least 16 characters); required unless --cluster is on loopback")
	fs.StringVar(&c.TLSCert, "cluster-tls-cert", "", "PEM certificate `file` nodes present to each other, on routes and forwarded calls (mutual TLS between nodes, with --cluster-tls-key)")
	fs.StringVar(&c.TLSKey, "cluster-tls-key", "", "PEM private key `file` of --cluster-tls-cert")
	fs.StringVar(&c.TLSCA, "cluster-tls-ca", "", "PEM `file` of the CAs a peer's certificate must chain to; default the system's")
	fs.DurationVar(&c.ReadyTimeout, "cluster-wait", cluster.DefaultReadyTimeout, "how long to wait at start for a majority of the nodes (a JetStream leader)")
	fs.StringVar(&cfg.ClusterImport, "cluster-import", "", "import the appliance's database `file` (a stopped micro server --data FILE) when the cluster holds no data yet; a cluster that does is left as it is (see micro cluster import)")
	fs.StringVar(&cfg.ClusterAdvertise, "cluster-advertise", "", "`host` or IP other nodes reach this node at; default the listener's or --cluster's host, else the address facing the first peer")
	fs.StringVar(&cfg.ClusterForward, "cluster-forward", "", "`HOST:PORT` other nodes forward calls for this node's services to, mutual TLS with --cluster-tls-cert (plaintext without); default --cluster's host, port 6223")
}

// clusterCommand is `micro cluster`: the cluster this server is part of.
func (a *app) clusterCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "cluster",
		ShortUsage: "micro cluster <command>",
		ShortHelp:  "Show the cluster of micro servers (micro server --cluster), and import an appliance into it",
		FlagSet:    flag.NewFlagSet("micro cluster", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.clusterStatus(),
			a.clusterImport(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

func (a *app) clusterStatus() *ffcli.Command {
	const path = "micro cluster status"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("status", path, "Peers (online, lag), the JetStream leader, each stream's leader and replicas, and where each block keeps its state", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := pb.NewAdminClient(cl.conn).Cluster(ctx, &pb.ClusterRequest{})
				if err != nil {
					return err
				}
				a.printCluster(rsp)
				return nil
			})
		})
}

// importChunk is the size of one streamed piece of micro cluster import.
const importChunk = 1 << 20

func (a *app) clusterImport() *ffcli.Command {
	const path = "micro cluster import"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	merge := fs.Bool("merge", false, "import into a cluster that already holds data: add what the file has and the cluster lacks, keep what the cluster has as it is")
	cmd := a.leaf("import", path+" [--merge] <file>", "Copy an appliance's database file (store, config, auth, events) into the cluster", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "give the appliance's database file, e.g. micro cluster import ./micro.db")
			}
			file := args[0]
			if err := schema.Idle(file); err != nil {
				return exitf(exitFailure, "%v", err)
			}
			if _, err := schema.Check(ctx, file); err != nil {
				return exitf(exitFailure, "%s is not a micro database that can be imported: %v", file, err)
			}
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if fi.Size() > node.MaxImportSize {
				return exitf(exitFailure, "%s is %d bytes; micro cluster import takes at most %d", file, fi.Size(), int64(node.MaxImportSize))
			}
			// An import takes as long as the file is large: no call timeout.
			return a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
				stream, err := pb.NewAdminClient(cl.conn).Import(ctx)
				if err != nil {
					return err
				}
				msg := &pb.ImportChunk{Size: fi.Size(), Merge: *merge}
				buf := make([]byte, importChunk)
				for {
					n, err := f.Read(buf)
					if n > 0 {
						msg.Data = buf[:n]
						if err := stream.Send(msg); err != nil {
							break // the server's answer says why
						}
						msg = &pb.ImportChunk{}
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
				}
				rsp, err := stream.CloseAndRecv()
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "BLOCK\tCOPIED\tKEPT (the cluster had them)")
				for _, b := range rsp.GetBlocks() {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", b.GetName(), b.GetCopied(), b.GetKept())
				}
				tw.Flush()
				fmt.Fprintf(a.stdout, "Imported %s into the cluster.\n", file)
				return nil
			})
		})
	cmd.LongHelp = "Copies a single-file appliance's state into the cluster this server is part of: the store\n" +
		"(records and blobs), config (secrets sealed again with the cluster's key, or the file's key adopted\n" +
		"when the cluster has none yet), auth (accounts with their passwords, rules, signing keys, so logins,\n" +
		"tokens and service credentials go on working) and events (every topic's events in order, with\n" +
		"their ids, times and metadata, and durable groups' positions).\n\n" +
		"Stop the appliance first (micro server --data FILE): a file in use is refused. The file may be on\n" +
		"this machine: it is streamed to the server (at most 64 GiB). Run it as an administrator of the\n" +
		"micro namespace, against any node of the cluster.\n\n" +
		"A cluster that already holds data is refused, saying what it holds. With --merge, what the file\n" +
		"has and the cluster lacks is added and what the cluster has is kept as it is: a record, blob,\n" +
		"account or namespace's rules under the same name, a config namespace, an events topic. The\n" +
		"cluster's first admin, its password never changed, is replaced by the file's. Importing the same\n" +
		"file twice copies nothing the second time. Not carried: refresh tokens (sessions log in again),\n" +
		"config change logs, and what stays on each node (services run, traces, the registry)."
	return cmd
}

func (a *app) printCluster(rsp *pb.ClusterResponse) {
	w := a.stdout
	if !rsp.GetClustered() {
		fmt.Fprintln(w, "This server is not part of a cluster: it keeps all state in its SQLite file. Start it with --cluster nats://HOST:PORT --cluster-peers ... to make it one.")
		return
	}
	leader := rsp.GetMetaLeader()
	if leader == "" {
		leader = "NONE (no majority of the nodes reachable: writes fail until one is)"
	}
	fmt.Fprintf(w, "Cluster %s: %d nodes, %d replicas per stream; this node is %s; JetStream leader: %s\n\n",
		rsp.GetName(), rsp.GetSize(), rsp.GetReplicas(), rsp.GetNode(), leader)

	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tONLINE\tCURRENT\tLAG\tRTT\tPROXY\tFORWARD\tGATEWAY")
	for _, p := range rsp.GetPeers() {
		name := p.GetName()
		if name == rsp.GetNode() {
			name += " (this)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, yesNo(p.GetOnline()), yesNo(p.GetCurrent()), p.GetLag(),
			dash(p.GetRtt()), dash(p.GetProxy()), dash(p.GetForward()), dash(p.GetGateway()))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tLEADER\tREPLICAS\tMESSAGES\tBYTES")
	for _, s := range rsp.GetStreams() {
		var reps []string
		for _, r := range s.GetReplicas() {
			state := "current"
			switch {
			case !r.GetOnline():
				state = "offline"
			case !r.GetCurrent():
				state = fmt.Sprintf("lag %d", r.GetLag())
			}
			reps = append(reps, r.GetName()+" ("+state+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", s.GetName(), dash(s.GetLeader()), dash(strings.Join(reps, ", ")), s.GetMessages(), s.GetBytes())
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK\tSTATE")
	for _, b := range rsp.GetBlocks() {
		fmt.Fprintf(tw, "%s\t%s\n", b.GetName(), b.GetBackend())
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
