//go:build unix

package runtime

import (
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// TestStats: the services counted by status, and every restart of a
// crashing process counted.
func TestStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t))
	st, err := e.rt.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != len(statusNames) || st.Services[StatusRunning] != 0 || st.Restarts != 0 {
		t.Fatalf("stats of an empty runtime: %+v", st)
	}

	e.mustCreate("crasher", testdata(t, "crasher"), nil, false)
	testkit.Eventually(t, 30*time.Second, "three restarts counted", func() bool {
		st, err = e.rt.Stats(ctx(t))
		return err == nil && st.Restarts >= 3
	})
	total := 0
	for _, n := range st.Services {
		total += n
	}
	if total != 1 || st.Services[StatusRunning] != 0 {
		t.Fatalf("stats with one crashing service: %+v", st)
	}
}
