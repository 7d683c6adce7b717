// Package failure is how every block answers for an error from its
// persistence: one mapping, so a shutdown, a caller who went away and a
// fault look the same from every block.
package failure

import (
	"context"
	stderrors "errors"
	"log/slog"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/schema"
)

// Answer turns err, from block id's operation op, into the caller's answer:
// a micro error as it is; a database closing for shutdown, 503; a full disk
// (or free space under --min-free-space), 507, saying so; a call whose
// context ended, its own 408 or 499; anything else is logged and is a 500
// that names the operation but not the internals (those are in the log).
func Answer(ctx context.Context, log *slog.Logger, id, op string, err error) error {
	var me *errors.Error
	switch {
	case stderrors.As(err, &me):
		return me
	case stderrors.Is(err, schema.ErrClosed):
		return errors.ServiceUnavailable(id, "%s is shutting down", id)
	case stderrors.Is(err, schema.ErrDiskFull):
		// Logged once per kind by the node's rate-limited logger; GET
		// /health reports it too.
		log.Warn(id+": "+op+" refused: the disk is full", "err", err)
		return errors.InsufficientStorage(id, "%s refused: the server's disk is full; reads still work, "+
			"and deleting data frees space", op)
	case ctx.Err() != nil:
		return errors.FromError(ctx.Err(), id)
	}
	log.Error(id+": "+op+" failed", "err", err)
	return errors.InternalServerError(id, "%s failed", op)
}
