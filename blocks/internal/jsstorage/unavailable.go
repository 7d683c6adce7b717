package jsstorage

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	merrors "micro.dev/micro/framework/errors"
)

// Unavailable turns a failure to reach JetStream into a 503 the caller can
// retry, in the words of block id. An answer from JetStream itself (an API
// error, a key not found), a micro error and a cancelled call are returned
// as they are: they are not the cluster being out of reach.
func Unavailable(id string, err error) error {
	var apiErr *jetstream.APIError
	var me *merrors.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr), errors.As(err, &me), errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, context.Canceled):
		return err
	}
	return merrors.ServiceUnavailable(id, "%s cannot reach the cluster's JetStream: %v", id, err)
}
