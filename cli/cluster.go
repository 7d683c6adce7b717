package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/cluster"
	"micro.dev/micro/node"
	pb "micro.dev/micro/proto/admin"
)

// serverClusterFlags are `micro server`'s flags for running as a node of a
// cluster (node/cluster.go); without --cluster none of it runs.
func serverClusterFlags(fs *flag.FlagSet, cfg *node.Config) {
	c := &cfg.Cluster
	fs.StringVar(&c.Listen, "cluster", "", "run as a node of a cluster: its route listener, nats://`HOST:PORT` (such as nats://0.0.0.0:6222)")
	fs.Var((*nameList)(&c.Peers), "cluster-peers", "comma-separated route addresses of the other nodes (`host:port,...`)")
	fs.StringVar(&c.Name, "cluster-name", cluster.DefaultName, "the cluster's `name`; nodes join only a cluster of their name")
	fs.StringVar(&c.Secret, "cluster-secret", "", "shared `secret` nodes authenticate their routes with (at least 16 characters); required unless --cluster is on loopback")
	fs.StringVar(&c.TLSCert, "cluster-tls-cert", "", "PEM certificate `file` routes present (TLS between nodes, with --cluster-tls-key)")
	fs.StringVar(&c.TLSKey, "cluster-tls-key", "", "PEM private key `file` of --cluster-tls-cert")
	fs.StringVar(&c.TLSCA, "cluster-tls-ca", "", "PEM `file` of the CAs a peer's route certificate must chain to; default the system's")
	fs.DurationVar(&c.ReadyTimeout, "cluster-wait", cluster.DefaultReadyTimeout, "how long to wait at start for a majority of the nodes (a JetStream leader)")
	fs.StringVar(&cfg.ClusterAdvertise, "cluster-advertise", "", "`host` or IP other nodes reach this node's proxy at; default the proxy's or --cluster's host, else the address facing the first peer")
}

// clusterCommand is `micro cluster`: the cluster this server is part of.
func (a *app) clusterCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "cluster",
		ShortUsage: "micro cluster <command>",
		ShortHelp:  "Show the cluster of micro servers (micro server --cluster)",
		FlagSet:    flag.NewFlagSet("micro cluster", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.clusterStatus(),
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
	fmt.Fprintln(tw, "NODE\tONLINE\tCURRENT\tLAG\tRTT\tPROXY\tGATEWAY")
	for _, p := range rsp.GetPeers() {
		name := p.GetName()
		if name == rsp.GetNode() {
			name += " (this)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", name, yesNo(p.GetOnline()), yesNo(p.GetCurrent()), p.GetLag(),
			dash(p.GetRtt()), dash(p.GetProxy()), dash(p.GetGateway()))
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
