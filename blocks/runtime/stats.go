package runtime

import "context"

// Stats sums up what the runtime supervises, for the node's metrics.
type Stats struct {
	// Services counts the services of every namespace by their last
	// status; every status is present, zero or not.
	Services map[Status]int
	// Restarts counts the restarts scheduled since New: a process that
	// exited without being asked to, or could not be started, is started
	// again after its backoff.
	Restarts int64
}

// Stats reads the services' statuses from the backend and the restart
// count from memory. It asks for no authorization: it is for the node, not
// for callers.
func (r *Runtime) Stats(ctx context.Context) (Stats, error) {
	svcs, err := r.backend.ListServices(ctx, "")
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Services: make(map[Status]int, len(statusNames)), Restarts: r.restarts.Load()}
	for s := range statusNames {
		st.Services[Status(s)] = 0
	}
	for _, s := range svcs {
		st.Services[s.Status]++
	}
	return st, nil
}
