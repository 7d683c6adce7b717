package registry

import "maps"

// WithNodeMetadata sets metadata every node registered through this
// registry carries, over what the registration says. In a cluster the
// node names itself there (router.OwnerKey), so every micro node knows
// which one reaches the service; a registration cannot name another.
func WithNodeMetadata(md map[string]string) Option {
	return func(r *Registry) { r.stamp = maps.Clone(md) }
}

// stamped is md with the registry's stamp over it, as a copy.
func (r *Registry) stamped(md map[string]string) map[string]string {
	if len(r.stamp) == 0 {
		return md
	}
	out := make(map[string]string, len(md)+len(r.stamp))
	maps.Copy(out, md)
	maps.Copy(out, r.stamp)
	return out
}
