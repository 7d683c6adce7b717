package runtime

import (
	"context"
	"slices"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// AnyNamespace in Config.RunNamespaces lets the admins of every namespace
// run code.
const AnyNamespace = "*"

// authorizeRun checks that the caller in ctx may run code in namespace ns:
// Create, Update and Upload build a program and start it on this machine.
// A service runs as the server's own user, so whoever runs one can read
// what the server can (its database: password hashes, signing keys) and
// so become an admin of namespace micro. Running code is therefore an
// admin-of-micro right, unless Config.RunNamespaces hands it to the admins
// of ns as well (a server whose namespaces are all trusted).
func (r *Runtime) authorizeRun(ctx context.Context, ns string) error {
	if err := r.authorize(ctx, ns, true); err != nil {
		return err
	}
	if ns == metadata.DefaultNamespace || slices.Contains(r.cfg.RunNamespaces, ns) ||
		slices.Contains(r.cfg.RunNamespaces, AnyNamespace) {
		return nil
	}
	err := r.authorize(ctx, metadata.DefaultNamespace, true)
	if err != nil && errors.FromError(err, errID).Code == 403 {
		return errors.Forbidden(errID, "running services in namespace %s needs an admin of namespace micro: "+
			"a service runs as the server's own user and can read the server's data; "+
			"start the server with --runtime-namespaces %s to let that namespace's admins run code", ns, ns)
	}
	return err
}
