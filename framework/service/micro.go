package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/framework/server"
)

// This file holds Micro's package-level forms and middleware, so that a
// Micro service builds after only its import paths change:
//
//	func main() {
//		service.Handle(new(handler.Helloworld))
//		service.Run()
//	}

// errMissingName is what Run returns for a service with no name; the
// package-level Run prints Micro's advice for it.
var errMissingName = errors.New("the service has no name: use service.Name(\"...\") or set MICRO_SERVICE_NAME (micro run sets it)")

// defaultService is the service the package-level functions use: the one
// New made last, else one made from the environment on first use.
var defaultService struct {
	mu sync.Mutex
	s  *Service
}

func setDefault(s *Service) {
	defaultService.mu.Lock()
	defaultService.s = s
	defaultService.mu.Unlock()
}

// DefaultService returns the service the package-level functions use: the
// one New made last, or else a new one configured from the environment
// (as micro run starts a service: MICRO_SERVICE_NAME and the rest).
func DefaultService() *Service {
	defaultService.mu.Lock()
	s := defaultService.s
	defaultService.mu.Unlock()
	if s != nil {
		return s
	}
	s = &Service{stopped: make(chan struct{})}
	s.configure(nil)
	defaultService.mu.Lock()
	defer defaultService.mu.Unlock()
	if defaultService.s == nil { // another goroutine may have been first
		defaultService.s = s
	} else if s.client != nil {
		client.ClearDefault(s.caller)
		s.client.Close()
	}
	return defaultService.s
}

// NewService is New, by the name go-micro and older Micro code use.
func NewService(opts ...Option) *Service { return New(opts...) }

// Run runs the default service until a signal, as Micro's service.Run: a
// service without a name (not started by micro run, and given none) says
// so and exits 1; any other failure is logged and exits 1.
func Run() {
	s := DefaultService()
	err := s.Run()
	switch {
	case errors.Is(err, errMissingName):
		fmt.Println("Micro services must be run using \"micro run\"")
		os.Exit(1)
	case err != nil:
		s.log.Error(fmt.Sprintf("Error running %s service: %v", s.Name(), err))
		os.Exit(1)
	}
}

// Handle adds a handler to the default service (see Service.Handle).
func Handle(h any, opts ...server.HandlerOption) error {
	return DefaultService().Handle(h, opts...)
}

// Subscribe adds a subscriber to the default service (see
// Service.Subscribe).
func Subscribe(topic string, h any, opts ...server.SubscriberOption) error {
	return DefaultService().Subscribe(topic, h, opts...)
}

// Init applies more options, as Micro's Service.Init; it is for the time
// before Run. Handlers and subscribers already added stay.
func (s *Service) Init(opts ...Option) {
	s.mu.Lock()
	started := s.started
	handled := append([]handled(nil), s.handled...)
	s.handled = nil
	s.mu.Unlock()
	if started {
		s.log.Warn("service.Init after Run is ignored", "service", s.opts.Name)
		return
	}
	s.configure(append(append([]Option(nil), s.given...), opts...))
	for _, h := range handled {
		if err := s.Handle(h.h, h.opts...); err != nil && s.optsErr == nil {
			s.optsErr = err
		}
	}
}

type handled struct {
	h    any
	opts []server.HandlerOption
}

// Version is the service's version.
func (s *Service) Version() string { return s.opts.Version }

// String names the framework, as Micro's does.
func (s *Service) String() string { return "micro" }

// WrapHandler adds middleware run around every call of the service's
// endpoints, the first given outermost. A wrapper sees the call (its
// endpoint, metadata and decoded request; auth.AccountFromContext is the
// verified caller) and may refuse it by returning an error.
func WrapHandler(w ...server.HandlerWrapper) Option {
	return func(o *Options) { o.HandlerWrappers = append(o.HandlerWrappers, w...) }
}

// WrapSubscriber adds middleware run around every message delivered to
// the service's subscribers.
func WrapSubscriber(w ...server.SubscriberWrapper) Option {
	return func(o *Options) { o.SubscriberWrappers = append(o.SubscriberWrappers, w...) }
}

// WrapClient wraps the service's client (Service.Client and the block
// clients' package-level functions), the first given outermost.
func WrapClient(w ...client.Wrapper) Option {
	return func(o *Options) { o.ClientWrappers = append(o.ClientWrappers, w...) }
}

// WrapCall adds middleware run around every unary call the service's
// client makes, the first given outermost.
func WrapCall(w ...client.CallWrapper) Option {
	return func(o *Options) { o.CallWrappers = append(o.CallWrappers, w...) }
}

// wrapClient is c through the call wrappers, then the client wrappers,
// keeping c's namespace and service name for the block clients.
func (s *Service) wrapClient(c *client.GRPCClient) client.Client {
	var out client.Client = c
	if len(s.opts.CallWrappers) > 0 {
		out = client.WrapCall(s.opts.CallWrappers...)(out)
	}
	for i := len(s.opts.ClientWrappers) - 1; i >= 0; i-- {
		out = s.opts.ClientWrappers[i](out)
	}
	return client.Identified(out, c)
}

// wrapServer puts the caller's verified account into every call's context,
// then the user's handler wrappers.
func (s *Service) wrapServer() error {
	if s.caller != nil {
		keys := auth.NewKeySet(s.caller)
		if err := s.server.WrapHandler(identify(keys)); err != nil {
			return err
		}
	}
	return s.server.WrapHandler(s.opts.HandlerWrappers...)
}

// identify makes auth.AccountFromContext the caller whose bearer token
// verifies with its namespace's public keys; a call with no token, or one
// that does not verify (forged, expired), runs with no account.
func identify(keys *auth.KeySet) server.HandlerWrapper {
	return func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			// Whatever the context held, only a verified token names
			// the caller.
			ctx = auth.ContextWithAccount(ctx, nil)
			if h := req.Header()[metadata.Authorization]; h != "" {
				if acc := keys.FromHeader(ctx, h); acc != nil {
					ctx = auth.ContextWithAccount(ctx, acc)
				}
			}
			return next(ctx, req, rsp)
		}
	}
}
