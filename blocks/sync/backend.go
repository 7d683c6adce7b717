package sync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backend is where leases persist. The block's rules (defaults, limits,
// namespaces) live above it in Sync; the clock is the backend's, so every
// holder is judged by one.
type Backend interface {
	// Acquire creates the lease l (Name, ID, Holder, TTL set) unless a
	// live lease holds the name (a *Held) or the namespace holds max live
	// leases (ErrTooMany). It sets Token, larger than every token given in
	// the namespace before, and Expires.
	Acquire(ctx context.Context, ns string, l Lease, max int) (Lease, error)
	// Renew extends the live lease with the name and id by ttl (0: its
	// own) from now; ErrLost when there is none.
	Renew(ctx context.Context, ns, name, id string, ttl time.Duration) (Lease, error)
	// Release deletes the lease with the name and id, if it is there.
	Release(ctx context.Context, ns, name, id string) error
	// Leases returns the namespace's live leases by name.
	Leases(ctx context.Context, ns string) ([]Lease, error)
	// Sweep deletes leases that ran out and reports how many.
	Sweep(ctx context.Context) (int64, error)
}

// Lease is a named lock held until Expires.
type Lease struct {
	Name, ID, Holder string
	Token            uint64
	TTL              time.Duration
	Expires          time.Time
}

// Held is an Acquire of a name another live lease holds.
type Held struct {
	Holder  string
	Expires time.Time
}

func (e *Held) Error() string {
	return fmt.Sprintf("held by %q until %s", e.Holder, e.Expires.Format(time.RFC3339Nano))
}

// ErrLost is a Renew of a lease that is no longer held.
var ErrLost = errors.New("the lease is no longer held: it ran out or was released")

// ErrTooMany is an Acquire in a namespace at its limit of live leases.
var ErrTooMany = errors.New("too many leases held in the namespace")
