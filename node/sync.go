package node

import syncblock "micro.dev/micro/blocks/sync"

// newSync builds the lease block (framework/sync's locks and leaders).
func (n *Node) newSync(Config) (block, error) {
	return syncblock.New(n.db, n.authz, append([]syncblock.Option{syncblock.WithLogger(n.log)}, n.syncOptions()...)...), nil
}
