package runtime_test

import (
	"context"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/framework/runtime"
	"micro.dev/micro/node/nodetest"
	authpb "micro.dev/micro/proto/auth"
)

// The runtime client reaches the runtime block in the client's namespace,
// and the block's rules hold: members read; administrators (a service's
// own account) kill and read logs; running code takes an administrator of
// micro.
func TestRuntimeClient(t *testing.T) {
	n := nodetest.Start(t)
	admin := n.Client(client.Options{})
	gen := &authpb.GenerateRequest{Id: "member", Secret: "secret-member", Type: "user", Options: &authpb.Options{Namespace: "team"}}
	ctx := metadata.Set(context.Background(), metadata.Namespace, "team")
	if err := admin.Call(ctx, admin.NewRequest("auth", "Auth.Generate", gen), new(authpb.GenerateResponse)); err != nil {
		t.Fatal(err)
	}
	member := runtime.NewRuntime(n.Client(client.Options{Namespace: "team", ID: "member", Secret: "secret-member"}))
	owner := runtime.NewRuntime(n.ServiceAccount("team", "svc"))

	svc, err := runtime.NewService("ghost", "")
	if err != nil || svc.Version != "latest" {
		t.Fatal(svc, err)
	}
	svc.Source = t.TempDir() + "/no-such-dir"

	if got, err := member.Read(); err != nil || len(got) != 0 {
		t.Errorf("member Read: %v, %v", got, err)
	}
	for what, err := range map[string]error{
		"Create": member.Create(svc),
		"Update": member.Update(svc),
		"Delete": member.Delete(svc),
	} {
		if code := errors.Code(err); code != 403 {
			t.Errorf("member %s: %v, want a 403", what, err)
		}
	}
	if err := logsErr(t, member, svc); errors.Code(err) != 403 {
		t.Errorf("member Logs: %v, want a 403", err)
	}

	// Running code is for administrators of micro unless the server lets
	// the namespace's own (--runtime-namespaces).
	if err := owner.Create(svc); errors.Code(err) != 403 {
		t.Errorf("team's service running code: %v, want a 403", err)
	}
	root := runtime.NewRuntime(admin)
	if err := root.Create(svc, runtime.CreateNamespace("team")); err == nil || errors.Code(err) == 401 || errors.Code(err) == 403 {
		t.Errorf("admin Create from a missing directory: %v, want the runtime's complaint about the source", err)
	}
	if err := owner.Delete(svc); errors.Code(err) != 404 {
		t.Errorf("owner Delete of a service that never ran: %v, want a 404", err)
	}
	if err := logsErr(t, owner, svc); errors.Code(err) != 404 {
		t.Errorf("owner Logs of a service that never ran: %v, want a 404", err)
	}
	if err := root.Create(&runtime.Namespace{Name: "x"}); errors.Code(err) != 501 {
		t.Errorf("creating a namespace resource: %v, want the local runtime's 501", err)
	}
	if err := owner.Create(&runtime.Service{}); err != runtime.ErrInvalidResource {
		t.Errorf("a service without a name: %v", err)
	}
	if got, err := owner.Read(runtime.ReadService("ghost")); err != nil || len(got) != 0 {
		t.Errorf("Read after the failed runs: %v, %v", got, err)
	}
}

// logsErr drains a log stream and returns its error.
func logsErr(t *testing.T, r runtime.Runtime, svc *runtime.Service) error {
	t.Helper()
	ls, err := r.Logs(svc, runtime.LogsCount(10))
	if err != nil {
		return err
	}
	defer ls.Stop()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ls.Chan():
			if !ok {
				return ls.Error()
			}
		case <-timeout:
			t.Fatal("the log stream did not end")
		}
	}
}
