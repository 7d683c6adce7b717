package service_test

import (
	"context"
	gosync "sync"
	"testing"
	"time"

	"micro.dev/micro/framework/service"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node/nodetest"
)

// runs counts a job's runs by instance.
type runs struct {
	mu gosync.Mutex
	by map[int]int
}

func (r *runs) add(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.by[i]++
}

func (r *runs) get(i int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[i]
}

// TestEveryRunsOnTheLeaderOnly: two instances of a service with the same
// job; only one runs it, and when it stops the other takes over.
func TestEveryRunsOnTheLeaderOnly(t *testing.T) {
	n := nodetest.Start(t)
	r := &runs{by: map[int]int{}}
	var svcs []*service.Service
	for i := range 2 {
		s := service.New(service.Name("reports"), service.Proxy(n.Proxy()), service.Credentials("admin", "micro"),
			service.HandleSignal(false), service.Logger(nodetest.Quiet()))
		if err := s.Every(20*time.Millisecond, func(context.Context) error { r.add(i); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop() })
		svcs = append(svcs, s)
	}
	testkit.Eventually(t, 30*time.Second, "the job ran 10 times", func() bool { return r.get(0)+r.get(1) >= 10 })
	leader := 0
	if r.get(1) > 0 {
		leader = 1
	}
	if r.get(1-leader) != 0 {
		t.Fatalf("both instances ran the job: %v", r.by)
	}
	if err := svcs[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := r.get(leader)
	testkit.Eventually(t, 30*time.Second, "the other instance took over", func() bool { return r.get(1-leader) >= 5 })
	if r.get(leader) != stoppedAt {
		t.Fatalf("the stopped instance kept running the job: %d, then %d", stoppedAt, r.get(leader))
	}
	if err := svcs[1-leader].Every(time.Second, func(context.Context) error { return nil }); err == nil {
		t.Fatal("a job added to a running service was accepted")
	}
}

func TestCronExpressions(t *testing.T) {
	s := service.New(service.Name("cron"), service.Proxy("127.0.0.1:1"), service.HandleSignal(false))
	fn := func(context.Context) error { return nil }
	for _, good := range []string{"*/5 * * * *", "0 3 * * MON-FRI", "@hourly", "@every 90s", "CRON_TZ=UTC 30 2 1 * *"} {
		if err := s.Cron(good, fn); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", "* * * *", "61 * * * *", "* * * * * *", "@sometimes"} {
		if err := s.Cron(bad, fn); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if err := s.Every(0, fn); err == nil {
		t.Error("Every(0) was accepted")
	}
	if err := s.Every(time.Second, nil); err == nil {
		t.Error("a nil job was accepted")
	}
}
