package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	regpb "micro.dev/micro/proto/registry"
)

// lookPath finds plugins; tests replace it.
var lookPath = exec.LookPath

// commandName is what a plugin or service command may be called.
var commandName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// pluginOrService runs a command micro does not define, in Micro's order:
// an executable micro-<name> on PATH with the remaining args, else a call
// to the service <name>.
func (a *app) pluginOrService(ctx context.Context, name string, args []string) error {
	if !commandName.MatchString(name) {
		return unrecognizedCommand(name)
	}
	if path, err := lookPath("micro-" + name); err == nil {
		return a.runPlugin(ctx, path, args)
	}
	return a.serviceCommand(ctx, name, args)
}

func unrecognizedCommand(name string) error {
	return exitf(exitFailure, "Unrecognized micro command: %s. Please refer to 'micro --help'", name)
}

// runPlugin runs a micro-<name> executable with our stdio; its exit code
// is ours.
func (a *app) runPlugin(ctx context.Context, path string, args []string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code <= 0 {
			code = exitFailure // killed by a signal
		}
		return &exitError{code: code} // the plugin said what went wrong
	}
	if err != nil {
		return exitf(exitFailure, "Running plugin %s: %v", path, err)
	}
	return nil
}

// serviceCommand is `micro <service> [handler] [method] [--field=value...]`:
// a call to an endpoint of a registered service, its request built from
// flags typed by the registry's description of the request. With no
// command named it calls the default endpoint (defaultEndpoint); help is
// for --help, or a service without a default called with no flags.
func (a *app) serviceCommand(ctx context.Context, name string, args []string) error {
	// The lookup is bounded by callTimeout; the call by it too unless it
	// streams.
	return a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
		return a.callService(ctx, cl, name, args)
	})
}

// callService is serviceCommand once connected.
func (a *app) callService(ctx context.Context, cl *client, name string, args []string) error {
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	svcs, err := lookupService(lctx, regpb.NewRegistryClient(cl.conn), name, cl.target.Namespace)
	cancel()
	if err != nil {
		ee := &exitError{}
		errors.As(cl.err(err), &ee)
		return &exitError{code: exitFailure, msg: unrecognizedCommand(name).Error(),
			cause: "could not look for a service named " + name + ": " + ee.msg}
	}
	if len(svcs) == 0 {
		return unrecognizedCommand(name)
	}
	eps := endpointsOf(svcs)

	var words []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && len(words) < 2 {
		words, args = append(words, args[0]), args[1:]
	}
	help := false
	for _, arg := range args {
		if arg == "-h" || arg == "-help" || arg == "--help" {
			help = true
		}
	}
	var ep *regpb.Endpoint
	var extra string
	switch {
	case len(words) > 0:
		ep, extra = matchEndpoint(name, eps, words)
	case help:
		printServiceUsage(a.stdout, name, svcs[0].Version, eps)
		return nil
	default:
		// No command named: Micro calls the service's Call endpoint.
		if ep = defaultEndpoint(name, eps); ep == nil {
			if len(args) == 0 {
				printServiceUsage(a.stdout, name, svcs[0].Version, eps)
				return nil
			}
			return exitf(exitFailure, "Service %s has no default endpoint to call (%s.Call); name a command: %s. Please refer to 'micro %s --help'",
				name, title(name), strings.Join(commandNames(name, eps), ", "), name)
		}
	}
	if ep == nil {
		return exitf(exitFailure, "Unknown command %q of service %s; its commands are %s. Please refer to 'micro %s --help'",
			strings.Join(words, " "), name, strings.Join(commandNames(name, eps), ", "), name)
	}
	if extra != "" {
		return exitf(exitFailure, "Unexpected argument %q: give request fields as --flags. Please refer to 'micro %s %s --help'",
			extra, name, commandFor(name, ep))
	}
	if help {
		printEndpointUsage(a.stdout, name, ep)
		return nil
	}
	body, err := requestFromFlags(ep.Request, args)
	if err != nil {
		return exitf(exitFailure, "%s. Please refer to 'micro %s %s --help'", capitalize(err.Error()), name, commandFor(name, ep))
	}

	if ep.Metadata["stream"] == "true" {
		return streamJSON(ctx, cl.conn, name, ep.Name, body, func(msg []byte) error {
			return printReply(a.stdout, msg, "json")
		})
	}
	ctx, cancel = context.WithTimeout(ctx, callTimeout)
	defer cancel()
	reply, err := invokeJSON(ctx, cl.conn, name, ep.Name, body)
	if err != nil {
		return err
	}
	return printReply(a.stdout, reply, "json")
}

// defaultEndpoint is the endpoint `micro <service>` calls when no command
// is named: <Service>.Call, as Micro maps a bare service (and the gateway
// maps /<service>), found by the command "call" of the handler named after
// the service. nil when the service has none.
func defaultEndpoint(service string, eps []*regpb.Endpoint) *regpb.Endpoint {
	for _, ep := range eps {
		if commandFor(service, ep) == "call" {
			return ep
		}
	}
	return nil
}

// title is the handler name Micro gives a service: its last dotted part
// with the first letter upper-cased (helloworld: Helloworld).
func title(service string) string {
	label := service[strings.LastIndex(service, ".")+1:]
	if label == "" {
		return label
	}
	return strings.ToUpper(label[:1]) + label[1:]
}

// endpointsOf merges the endpoints of every version, sorted by name.
func endpointsOf(svcs []*regpb.Service) []*regpb.Endpoint {
	seen := map[string]bool{}
	var eps []*regpb.Endpoint
	for _, s := range svcs {
		for _, ep := range s.Endpoints {
			if !seen[ep.Name] {
				seen[ep.Name] = true
				eps = append(eps, ep)
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Name < eps[j].Name })
	return eps
}

// fold makes command words comparable: case, '-' and '_' do not matter
// (call, Call; ping-pong, pingPong, PingPong).
func fold(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// commandFor is the command of an endpoint: its method alone when the
// handler is named after the service (helloworld's Helloworld.Call is
// "call"), else handler and method (auth's Accounts.List is "accounts
// list").
func commandFor(service string, ep *regpb.Endpoint) string {
	handler, method, _ := strings.Cut(ep.Name, ".")
	label := service[strings.LastIndex(service, ".")+1:]
	if fold(handler) == fold(label) || fold(handler) == fold(service) {
		return lowerFirst(method)
	}
	return lowerFirst(handler) + " " + lowerFirst(method)
}

func commandNames(service string, eps []*regpb.Endpoint) []string {
	names := make([]string, len(eps))
	for i, ep := range eps {
		names[i] = commandFor(service, ep)
	}
	return names
}

// matchEndpoint finds the endpoint the command words name: its command
// ("call", "accounts list"), or handler and method ("helloworld call"),
// or its full name ("Helloworld.Call"). A second word left over is
// returned as extra.
func matchEndpoint(service string, eps []*regpb.Endpoint, words []string) (*regpb.Endpoint, string) {
	for _, ep := range eps {
		handler, method, _ := strings.Cut(ep.Name, ".")
		cmd := strings.Fields(commandFor(service, ep))
		switch {
		case len(words) == len(cmd) && fold(words[0]) == fold(cmd[0]) && (len(cmd) == 1 || fold(words[1]) == fold(cmd[1])):
			return ep, ""
		case len(words) == 2 && fold(words[0]) == fold(handler) && fold(words[1]) == fold(method):
			return ep, ""
		case words[0] == ep.Name:
			if len(words) == 2 {
				return ep, words[1]
			}
			return ep, ""
		case len(words) == 2 && len(cmd) == 1 && fold(words[0]) == fold(cmd[0]):
			return ep, words[1]
		}
	}
	return nil, ""
}

// flagLinesFor renders the flags of a request: one "--path type" per leaf
// field, nested fields joined with "_".
func flagLinesFor(v *regpb.Value) []string {
	var lines []string
	var walk func(prefix string, fields []*regpb.Value)
	walk = func(prefix string, fields []*regpb.Value) {
		for _, f := range fields {
			if len(f.Values) > 0 && !isList(f.Type) && !isMap(f.Type) {
				walk(prefix+f.Name+"_", f.Values)
				continue
			}
			lines = append(lines, "--"+prefix+f.Name+" "+f.Type)
		}
	}
	if v != nil {
		walk("", v.Values)
	}
	return lines
}

func streamNote(ep *regpb.Endpoint) string {
	if ep.Metadata["stream"] == "true" {
		return " (stream)"
	}
	return ""
}

// printServiceUsage is `micro <service> --help`: every command with its
// endpoint and flags.
func printServiceUsage(w io.Writer, service, version string, eps []*regpb.Endpoint) {
	fmt.Fprintf(w, "Call the %s service", service)
	if version != "" {
		fmt.Fprintf(w, " (version %s)", version)
	}
	fmt.Fprintf(w, "\n\nUSAGE:\n  micro %s [command] [--field=value ...]\n", service)
	if ep := defaultEndpoint(service, eps); ep != nil {
		fmt.Fprintf(w, "  (no command calls %s)\n", ep.Name)
	}
	fmt.Fprintf(w, "\nCOMMANDS:\n")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	nested := false
	for _, ep := range eps {
		fmt.Fprintf(tw, "  %s\t%s%s\n", commandFor(service, ep), ep.Name, streamNote(ep))
		for _, l := range flagLinesFor(ep.Request) {
			fmt.Fprintf(tw, "  \t  %s\n", l)
		}
		nested = nested || hasNested(ep.Request)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nOPTIONS:\n  -h, --help  show help; each command's flags are listed under it above\n")
	if nested {
		fmt.Fprintf(w, "\nNested fields take '_' or '-' between names (--options_domain or --options-domain).\n")
	}
}

func hasNested(v *regpb.Value) bool {
	for _, f := range v.GetValues() {
		if len(f.Values) > 0 && !isList(f.Type) && !isMap(f.Type) {
			return true
		}
	}
	return false
}

// printEndpointUsage is `micro <service> <command> --help`.
func printEndpointUsage(w io.Writer, service string, ep *regpb.Endpoint) {
	fmt.Fprintf(w, "Call %s of the %s service%s\n\nUSAGE:\n  micro %s %s [--field=value ...]\n",
		ep.Name, service, streamNote(ep), service, commandFor(service, ep))
	fmt.Fprintf(w, "\nOPTIONS:\n")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	for _, l := range flagLinesFor(ep.Request) {
		fmt.Fprintf(tw, "  %s\n", l)
	}
	fmt.Fprintln(tw, helpLine)
	tw.Flush()
	if ep.Response != nil && len(ep.Response.Values) > 0 {
		fmt.Fprintf(w, "\nRESPONSE:\n  %s\n", strings.ReplaceAll(formatValue(ep.Response), "\n", "\n  "))
	}
}
