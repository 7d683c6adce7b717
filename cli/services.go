package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/grpc"

	microclient "micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	regpb "micro.dev/micro/proto/registry"
)

// servicesCommand is `micro services`: the names of the services of the
// current namespace (blocks included), sorted, one per line.
func (a *app) servicesCommand() *ffcli.Command {
	const path = "micro services"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("services", path, "List the services of the current namespace", fs, func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageErrorf(path, "unexpected argument %q", args[0])
		}
		return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
			rsp, err := regpb.NewRegistryClient(cl.conn).ListServices(ctx, &regpb.ListRequest{})
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			var names []string
			for _, s := range rsp.Services {
				if !seen[s.Name] {
					seen[s.Name] = true
					names = append(names, s.Name)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintln(a.stdout, n)
			}
			return nil
		})
	})
}

// getCommand is `micro get service <name>`.
func (a *app) getCommand() *ffcli.Command {
	const path = "micro get service"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	service := a.leaf("service", path+" <name>", "Show a service's nodes and endpoints", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one service name")
		}
		svcs, err := a.getService(ctx, args[0])
		if err != nil {
			return err
		}
		printService(a.stdout, svcs)
		return nil
	})
	cmd := &ffcli.Command{
		Name:        "get",
		ShortUsage:  "micro get <command> [args...]",
		ShortHelp:   "Show a resource, such as a service",
		FlagSet:     flag.NewFlagSet("micro get", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{service},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// getService looks a service up in the current namespace, then in "micro".
func (a *app) getService(ctx context.Context, name string) (svcs []*regpb.Service, err error) {
	err = a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
		svcs, err = lookupService(ctx, regpb.NewRegistryClient(cl.conn), name, cl.target.Namespace)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		return nil, exitf(exitNoService, "Service %q not found", name)
	}
	return svcs, nil
}

// lookupService gets a service in namespace, falling back to "micro" as
// the router does; none found is an empty answer, not an error.
func lookupService(ctx context.Context, reg regpb.RegistryClient, name, namespace string) ([]*regpb.Service, error) {
	domains := []string{namespace}
	if namespace != "micro" {
		domains = append(domains, "micro")
	}
	for _, d := range domains {
		rsp, err := reg.GetService(ctx, &regpb.GetRequest{Service: name, Options: &regpb.Options{Domain: d}})
		if err == nil && len(rsp.Services) > 0 {
			return rsp.Services, nil
		}
		if err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	return nil, nil
}

// printService prints a service as Micro's `micro get service` does: its
// name, per version the nodes as a table, then each endpoint with its
// metadata and request and response fields.
func printService(w io.Writer, svcs []*regpb.Service) {
	fmt.Fprintf(w, "service  %s\n", svcs[0].Name)
	for _, s := range svcs {
		if s.Version != "" {
			fmt.Fprintf(w, "\nversion %s\n", s.Version)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAddress\tMetadata")
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Id, n.Address, joinMetadata(n.Metadata))
		}
		tw.Flush()
	}
	for _, e := range svcs[0].Endpoints {
		fmt.Fprintf(w, "\nEndpoint: %s\n", e.Name)
		if len(e.Metadata) > 0 {
			fmt.Fprintf(w, "Metadata: %s\n", joinMetadata(e.Metadata))
		}
		fmt.Fprintf(w, "Request: %s\n", formatValue(e.Request))
		fmt.Fprintf(w, "Response: %s\n", formatValue(e.Response))
	}
}

func joinMetadata(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + md[k]
	}
	return strings.Join(parts, ",")
}

// formatValue renders a message shape as Micro does: "{}" when empty, else
// one "name type" line per field, nested messages indented in braces.
func formatValue(v *regpb.Value) string {
	if v == nil || len(v.Values) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteString("{\n")
	for _, f := range v.Values {
		writeField(&b, f, 1)
	}
	b.WriteString("}")
	return b.String()
}

func writeField(b *strings.Builder, v *regpb.Value, depth int) {
	indent := strings.Repeat("\t", depth)
	if len(v.Values) == 0 {
		fmt.Fprintf(b, "%s%s %s\n", indent, v.Name, v.Type)
		return
	}
	fmt.Fprintf(b, "%s%s %s {\n", indent, v.Name, v.Type)
	for _, f := range v.Values {
		writeField(b, f, depth+1)
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

// endpointRe is a well-formed endpoint name: Handler.Method.
var endpointRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$`)

// callFlags are the flags `micro call` and `micro stream` share.
type callFlags struct {
	address  string
	output   string
	timeout  time.Duration
	metadata metadataFlag
}

func (f *callFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.address, "address", "", "call the node at this host:port directly instead of through the proxy")
	fs.StringVar(&f.output, "output", "json", "output format: json (indented) or raw (the bytes as sent)")
	fs.DurationVar(&f.timeout, "request_timeout", callTimeout, "give up on the call after this long")
	f.metadata = metadataFlag{}
	fs.Var(f.metadata, "metadata", "metadata to send, key=value; repeat for more")
}

// callArgs checks `micro call|stream <service> <Handler.Method> ['<json>']`
// and returns the request body.
func callArgs(path string, args []string, f *callFlags) ([]byte, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, usageErrorf(path, "expected a service, an endpoint and optionally a JSON request")
	}
	if !endpointRe.MatchString(args[1]) {
		return nil, exitf(exitMalformed, "Malformed method name %q: want Handler.Method, e.g. Helloworld.Call", args[1])
	}
	if f.output != "json" && f.output != "raw" {
		return nil, usageErrorf(path, "--output must be json or raw, not %q", f.output)
	}
	if f.timeout <= 0 {
		return nil, usageErrorf(path, "--request_timeout must be positive")
	}
	body := []byte("{}")
	if len(args) == 3 {
		body = []byte(args[2])
		t := bytes.TrimSpace(body)
		if !json.Valid(t) || len(t) == 0 || t[0] != '{' {
			return nil, usageErrorf(path, "the request must be a JSON object, such as '{\"name\": \"Jane\"}'")
		}
	}
	return body, nil
}

// options are how a call with these flags reaches the server: the node
// --address names or the proxy, --metadata, and --request_timeout for a
// call (a stream runs until it ends).
func (f *callFlags) options(stream bool) callOptions {
	o := callOptions{node: f.address, metadata: f.metadata, timeout: f.timeout}
	if stream {
		o.timeout = noTimeout
	}
	return o
}

func (a *app) callCommand() *ffcli.Command {
	const path = "micro call"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	var f callFlags
	f.register(fs)
	return a.leaf("call", path+" [flags] <service> <Handler.Method> ['<json>']",
		"Call a service endpoint with a JSON request", fs, func(ctx context.Context, args []string) error {
			body, err := callArgs(path, args, &f)
			if err != nil {
				return err
			}
			return a.withClient(ctx, f.options(false), func(ctx context.Context, cl *client) error {
				reply, err := invokeJSON(ctx, cl.conn, args[0], args[1], body)
				if err != nil && strings.Contains(err.Error(), "cardinality violation") {
					// gRPC's word for a unary call answered with a stream.
					return exitf(exitFailure, "%s of %s streams; use 'micro stream %s %s'", args[1], args[0], args[0], args[1])
				}
				if err != nil {
					return err
				}
				return printReply(a.stdout, reply, f.output)
			})
		})
}

func (a *app) streamCommand() *ffcli.Command {
	const path = "micro stream"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	var f callFlags
	f.register(fs)
	return a.leaf("stream", path+" [flags] <service> <Handler.Method> ['<json>']",
		"Call a streaming endpoint and print every message it sends", fs, func(ctx context.Context, args []string) error {
			body, err := callArgs(path, args, &f)
			if err != nil {
				return err
			}
			return a.withClient(ctx, f.options(true), func(ctx context.Context, cl *client) error {
				return streamJSON(ctx, cl.conn, args[0], args[1], body, func(msg []byte) error {
					return printReply(a.stdout, msg, f.output)
				})
			})
		})
}

// invokeJSON makes a unary call with a JSON body and returns the JSON reply
// as the service sent it.
func invokeJSON(ctx context.Context, conn grpc.ClientConnInterface, service, endpoint string, body []byte) ([]byte, error) {
	var reply codec.Frame
	err := conn.Invoke(ctx, microclient.FullMethod(service, endpoint), &codec.Frame{Data: body}, &reply, grpc.CallContentSubtype(codec.JSON))
	return reply.Data, err
}

// streamJSON sends one JSON request on a stream and hands every message
// back to each until the stream ends.
func streamJSON(ctx context.Context, conn grpc.ClientConnInterface, service, endpoint string, body []byte, each func([]byte) error) error {
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	st, err := conn.NewStream(ctx, desc, microclient.FullMethod(service, endpoint), grpc.CallContentSubtype(codec.JSON))
	if err != nil {
		return err
	}
	if err := st.SendMsg(&codec.Frame{Data: body}); err != nil && err != io.EOF {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	for {
		var msg codec.Frame
		if err := st.RecvMsg(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := each(msg.Data); err != nil {
			return err
		}
	}
}

// printReply prints a JSON reply tab-indented, as Micro does (numbers stay
// exactly as sent), or raw.
func printReply(w io.Writer, reply []byte, output string) error {
	if output == "raw" {
		_, err := w.Write(reply)
		return err
	}
	if len(bytes.TrimSpace(reply)) == 0 {
		reply = []byte("{}")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, reply, "", "\t"); err != nil {
		_, err := fmt.Fprintf(w, "%s\n", reply) // not JSON: as it came
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}
