package failure

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/schema"
)

func TestAnswer(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	if e := errors.FromError(Answer(ctx, log, "store", "read", errors.NotFound("store", "not found")), ""); e.Code != 404 {
		t.Fatalf("micro error: %+v", e)
	}
	if e := errors.FromError(Answer(ctx, log, "store", "write", fmt.Errorf("w: %w", schema.ErrClosed)), ""); e.Code != 503 || e.Detail != "store is shutting down" {
		t.Fatalf("closed: %+v", e)
	}
	if e := errors.FromError(Answer(ctx, log, "store", "write", fmt.Errorf("w: %w", schema.ErrDiskFull)), ""); e.Code != 507 || !strings.Contains(e.Detail, "disk is full") {
		t.Fatalf("disk full: %+v", e)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if e := errors.FromError(Answer(done, log, "store", "write", fmt.Errorf("interrupted")), ""); e.Code != 499 {
		t.Fatalf("canceled: %+v", e)
	}
	e := errors.FromError(Answer(ctx, log, "store", "write", fmt.Errorf("SQL logic error near SELECT")), "")
	if e.Code != 500 || e.Detail != "write failed" || strings.Contains(e.Detail, "SQL") {
		t.Fatalf("fault: %+v", e)
	}
	if !strings.Contains(logs.String(), "SQL logic error") {
		t.Fatalf("the fault was not logged: %s", logs.String())
	}
}
