//go:build unix

package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/runtime"
)

func adminOf(ns string) context.Context {
	return auth.ContextWithAccount(context.Background(),
		&auth.Account{ID: "admin-" + ns, Issuer: ns, Type: auth.TypeUser, Scopes: []string{auth.ScopeAdmin}})
}

func createIn(ctx context.Context, r *Runtime, ns, name, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err := r.Create(ctx, &pb.CreateRequest{
		Resource: &pb.Resource{Service: &pb.Service{Name: name, Source: dir}},
		Options:  &pb.CreateOptions{Namespace: ns},
	})
	return err
}

// TestRunningCodeNeedsAnAdminOfMicro: a service runs as the server's user,
// so an admin of another namespace who could run one could read the
// server's database and become an admin of micro. Create, Update and
// Upload in a namespace that --runtime-namespaces does not list need an
// admin of micro; in a listed one its own admins may.
func TestRunningCodeNeedsAnAdminOfMicro(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RunNamespaces = []string{"trusted"}
	e := newEnv(t, cfg)
	dir := testdata(t, "ticker")

	err := createIn(adminOf("other"), e.rt, "other", "probe", dir)
	if errCode(err) != 403 || !strings.Contains(err.Error(), "needs an admin of namespace micro") ||
		!strings.Contains(err.Error(), "--runtime-namespaces other") {
		t.Fatalf("create by an admin of other: %v; want 403 naming the rule and the flag", err)
	}
	if _, ok, _ := e.rt.backend.GetService(context.Background(), Key{"other", "probe", DefaultVersion}); ok {
		t.Fatal("a refused create left a service")
	}
	_, err = e.rt.Update(adminOf("other"), &pb.UpdateRequest{
		Resource: &pb.Resource{Service: &pb.Service{Name: "probe", Source: dir}},
		Options:  &pb.UpdateOptions{Namespace: "other"},
	})
	if errCode(err) != 403 {
		t.Fatalf("update by an admin of other: %v; want 403", err)
	}
	// Still Micro's namespace rule first: no account is a 401.
	if err := createIn(context.Background(), e.rt, "other", "probe", dir); errCode(err) != 401 {
		t.Fatalf("create without an account: %v; want 401", err)
	}
	// An admin of a listed namespace may run code there, and only there.
	if err := createIn(adminOf("trusted"), e.rt, "trusted", "ticker", dir); err != nil {
		t.Fatalf("create by an admin of a listed namespace: %v", err)
	}
	if err := createIn(adminOf("trusted"), e.rt, "other", "ticker", dir); errCode(err) != 403 {
		t.Fatalf("create by an admin of trusted in other: %v; want 403", err)
	}
	// An admin of micro may run code anywhere.
	if err := createIn(adminOf("micro"), e.rt, "other", "ticker", dir); err != nil {
		t.Fatalf("create by an admin of micro in other: %v", err)
	}
	// Stopping code is not running it: the namespace's admin may.
	if _, err := e.rt.Delete(adminOf("other"), &pb.DeleteRequest{
		Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}},
		Options:  &pb.DeleteOptions{Namespace: "other"},
	}); err != nil {
		t.Fatalf("delete by an admin of other: %v", err)
	}
}

func TestRunNamespacesWildcard(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RunNamespaces = []string{AnyNamespace}
	e := newEnv(t, cfg)
	if err := createIn(adminOf("other"), e.rt, "other", "ticker", testdata(t, "ticker")); err != nil {
		t.Fatalf("create with --runtime-namespaces '*': %v", err)
	}
}
