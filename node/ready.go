package node

import (
	"context"

	regpb "micro.dev/micro/proto/registry"
)

// waitRegistered returns once the registry holds a node of service name in
// namespace whose metadata names instanceID (the framework copies
// MICRO_INSTANCE_ID there): the runtime's signal that a new process serves.
func (n *Node) waitRegistered(ctx context.Context, namespace, name, instanceID string) error {
	changed := make(chan struct{}, 1)
	cancel := n.registry.Subscribe(func(*regpb.Result) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	for {
		svcs, _, err := n.registry.Lookup(ctx, namespace, name)
		if err != nil {
			return err
		}
		for _, s := range svcs {
			for _, node := range s.GetNodes() {
				if node.GetMetadata()["instance"] == instanceID {
					return nil
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
