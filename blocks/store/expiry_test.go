package store

import (
	"context"
	"testing"
	"time"

	pb "micro.dev/micro/proto/store"
)

// TestWatchHearsExpiryWhenItHappens: with a sweep interval of an hour, the
// expire event still arrives, so it came from the timer on the earliest
// expiry, not from a sweep. A later-expiring record written first sets the
// timer for an hour; the second write must bring it forward.
func TestWatchHearsExpiryWhenItHappens(t *testing.T) {
	e := newEnv(t, WithClock(time.Now), WithSweepInterval(time.Hour))
	e.store.Start(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := e.watch(t, ctx, &pb.WatchRequest{Prefix: true})
	e.write(t, ctx, "late", "v", 3600, nil)
	e.write(t, ctx, "soon", "v", 1, nil)
	var got []string
	for range 3 {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, eventString(ev))
	}
	equal(t, "events", got, []string{"create late@1=v", "create soon@1=v", "expire soon@1="})
	if keys := e.readKeys(t, "late", nil); len(keys) != 1 {
		t.Fatalf("late expired too: %v", keys)
	}
}

// TestNextExpiry: the earliest expiry of any record, expired ones
// included; zero when nothing expires.
func TestNextExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if next, err := e.store.backend.NextExpiry(ctx); err != nil || !next.IsZero() {
		t.Fatalf("empty: %v %v", next, err)
	}
	e.write(t, ctx, "forever", "v", 0, nil)
	e.write(t, ctx, "b", "v", 20, nil)
	e.write(t, ctx, "a", "v", 10, nil)
	want := e.clock.Now().Add(10 * time.Second)
	if next, err := e.store.backend.NextExpiry(ctx); err != nil || !next.Equal(want) {
		t.Fatalf("next = %v %v, want %v", next, err, want)
	}
}
