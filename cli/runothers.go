package cli

import (
	"context"
	"fmt"
	"strings"

	regpb "micro.dev/micro/proto/registry"
)

// noteOtherInstances prints one line on stderr when service name already
// has registered nodes that no runtime started (a `go run` by hand, another
// machine): once micro run's version registers too, calls alternate
// between them. It only informs: a failed lookup prints nothing. ctx
// carries the call's metadata (withClient's).
func (a *app) noteOtherInstances(ctx context.Context, cl *client, name string) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rsp, err := regpb.NewRegistryClient(cl.conn).GetService(ctx, &regpb.GetRequest{Service: name,
		Options: &regpb.Options{Domain: cl.target.Namespace}})
	if err != nil {
		return
	}
	var addrs []string
	for _, s := range rsp.GetServices() {
		for _, n := range s.GetNodes() {
			// The runtime names each process it starts; the framework
			// copies that into "instance".
			if n.GetMetadata()["instance"] == "" {
				addrs = append(addrs, n.GetAddress())
			}
		}
	}
	if len(addrs) == 0 {
		return
	}
	fmt.Fprintf(a.stderr, "%s is already running, not started by micro run (%s): calls will go to both; stop that one first\n",
		name, strings.Join(addrs, ", "))
}
