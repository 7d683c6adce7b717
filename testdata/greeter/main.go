// Command greeter is a Micro v3 service in its package-level form:
// service.Handle, service.Subscribe and service.Run with no service value
// in hand, the name coming from micro run. Its Go is Micro's but for the
// import paths (github.com/micro/micro/v3/service/... became
// micro.dev/micro/framework/...). e2e/microv3_test.go runs it with
// `micro run` and calls it through the CLI.
package main

import (
	"context"
	"sync"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
)

type Greeter struct {
	mu   sync.Mutex
	last string
}

type CallRequest struct {
	Name string `json:"name"`
}

type CallResponse struct {
	Msg string `json:"msg"`
}

// Greeting is the event Call publishes.
type Greeting struct {
	Name string `json:"name"`
}

// Call greets and announces the greeting on the "greetings" topic.
func (g *Greeter) Call(ctx context.Context, req *CallRequest, rsp *CallResponse) error {
	rsp.Msg = "Hello " + req.Name
	return service.NewEvent("greetings").Publish(ctx, &Greeting{Name: req.Name})
}

type WhoamiRequest struct{}

type WhoamiResponse struct {
	Id     string   `json:"id"`
	Type   string   `json:"type"`
	Issuer string   `json:"issuer"`
	Scopes []string `json:"scopes"`
}

// Whoami answers with the caller's account.
func (g *Greeter) Whoami(ctx context.Context, req *WhoamiRequest, rsp *WhoamiResponse) error {
	acc, ok := auth.AccountFromContext(ctx)
	if !ok {
		return errors.Unauthorized("greeter.Whoami", "account not found")
	}
	rsp.Id, rsp.Type, rsp.Issuer, rsp.Scopes = acc.ID, acc.Type, acc.Issuer, acc.Scopes
	return nil
}

type LastRequest struct{}

type LastResponse struct {
	Name string `json:"name"`
}

// Last is the name in the last greeting the subscriber got.
func (g *Greeter) Last(ctx context.Context, req *LastRequest, rsp *LastResponse) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	rsp.Name = g.last
	return nil
}

// Greeted subscribes to "greetings".
func (g *Greeter) Greeted(ctx context.Context, ev *Greeting) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = ev.Name
	return nil
}

func main() {
	g := new(Greeter)

	// Register handler
	service.Handle(g)

	// Register subscriber
	service.Subscribe("greetings", g.Greeted)

	// Run the service
	service.Run()
}
