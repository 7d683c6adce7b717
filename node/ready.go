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

// instanceGone removes the nodes a process of the runtime registered as
// soon as the runtime sees it exit (a crash, kill -9): calls stop going to
// it at once instead of when its TTL runs out. A process that stopped
// cleanly has deregistered itself; then there is nothing left to remove.
func (n *Node) instanceGone(ctx context.Context, namespace, name, instanceID string) {
	removed, err := n.registry.DeregisterInstance(ctx, namespace, name, instanceID)
	switch {
	case err != nil:
		n.log.Warn("runtime: removing the nodes of an exited process failed", "service", name, "namespace", namespace, "instance", instanceID, "err", err)
	case removed > 0:
		n.log.Info("runtime: removed the nodes of an exited process", "service", name, "namespace", namespace, "instance", instanceID, "nodes", removed)
	}
}
