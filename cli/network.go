package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/framework/codec"
	pb "micro.dev/micro/proto/network"
)

// networkCommand is `micro network`: what the network
// block's router sees.
func (a *app) networkCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "network",
		ShortUsage: "micro network <command> [flags]",
		ShortHelp:  "Show the service network: services, nodes and routes",
		FlagSet:    flag.NewFlagSet("micro network", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.networkServices(),
			a.networkNodes(),
			a.networkRoutes(),
			a.networkGraph(),
			a.networkConnect(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// withNetwork connects and runs call with a network client.
func (a *app) withNetwork(ctx context.Context, call func(context.Context, pb.NetworkClient) error) error {
	return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
		return call(ctx, pb.NewNetworkClient(cl.conn))
	})
}

func noArgs(path string, args []string) error {
	if len(args) > 0 {
		return usageErrorf(path, "unexpected argument %q", args[0])
	}
	return nil
}

func (a *app) networkServices() *ffcli.Command {
	const path = "micro network services"
	return a.leaf("services", path, "List the services the network routes to", flag.NewFlagSet(path, flag.ContinueOnError),
		func(ctx context.Context, args []string) error {
			if err := noArgs(path, args); err != nil {
				return err
			}
			return a.withNetwork(ctx, func(ctx context.Context, n pb.NetworkClient) error {
				rsp, err := n.Services(ctx, &pb.ServicesRequest{})
				for _, s := range rsp.GetServices() {
					fmt.Fprintln(a.stdout, s)
				}
				return err
			})
		})
}

func (a *app) networkNodes() *ffcli.Command {
	const path = "micro network nodes"
	return a.leaf("nodes", path, "List the micro nodes of the network", flag.NewFlagSet(path, flag.ContinueOnError),
		func(ctx context.Context, args []string) error {
			if err := noArgs(path, args); err != nil {
				return err
			}
			return a.withNetwork(ctx, func(ctx context.Context, n pb.NetworkClient) error {
				rsp, err := n.Nodes(ctx, &pb.NodesRequest{})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tADDRESS")
				for _, node := range rsp.Nodes {
					fmt.Fprintf(tw, "%s\t%s\n", node.Id, node.Address)
				}
				return tw.Flush()
			})
		})
}

func (a *app) networkRoutes() *ffcli.Command {
	const path = "micro network routes"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	var q pb.Query
	fs.StringVar(&q.Service, "service", "", "only routes to this service")
	fs.StringVar(&q.Address, "address", "", "only routes to this address")
	fs.StringVar(&q.Gateway, "gateway", "", "only routes through this gateway")
	fs.StringVar(&q.Router, "router", "", "only routes from this router")
	fs.StringVar(&q.Network, "network", "", "routes of this network (namespace); * for all")
	return a.leaf("routes", path+" [flags]", "List the routes to every service node", fs,
		func(ctx context.Context, args []string) error {
			if err := noArgs(path, args); err != nil {
				return err
			}
			return a.withNetwork(ctx, func(ctx context.Context, n pb.NetworkClient) error {
				rsp, err := n.Routes(ctx, &pb.RoutesRequest{Query: &q})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tADDRESS\tGATEWAY\tROUTER\tNETWORK\tMETRIC\tLINK")
				for _, r := range rsp.Routes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Service, r.Address, orNA(r.Gateway), r.Router, r.Network, r.Metric, r.Link)
				}
				return tw.Flush()
			})
		})
}

func (a *app) networkGraph() *ffcli.Command {
	const path = "micro network graph"
	return a.leaf("graph", path, "Print the network as seen from this node, as JSON", flag.NewFlagSet(path, flag.ContinueOnError),
		func(ctx context.Context, args []string) error {
			if err := noArgs(path, args); err != nil {
				return err
			}
			return a.withNetwork(ctx, func(ctx context.Context, n pb.NetworkClient) error {
				rsp, err := n.Graph(ctx, &pb.GraphRequest{})
				if err != nil {
					return err
				}
				b, err := codec.MarshalJSON(rsp)
				if err != nil {
					return err
				}
				return printReply(a.stdout, b, "json")
			})
		})
}

func (a *app) networkConnect() *ffcli.Command {
	const path = "micro network connect"
	return a.leaf("connect", path+" <address>", "Connect another micro node to the network", flag.NewFlagSet(path, flag.ContinueOnError),
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "expected one address")
			}
			return a.withNetwork(ctx, func(ctx context.Context, n pb.NetworkClient) error {
				_, err := n.Connect(ctx, &pb.ConnectRequest{Nodes: []*pb.Node{{Address: args[0]}}})
				return err
			})
		})
}
