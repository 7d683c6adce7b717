package cli

import (
	"errors"
	"fmt"
	"io"

	grpcmd "google.golang.org/grpc/metadata"
)

// accepted waits until the server has accepted a subscription stream (its
// block sends headers once the subscription is in place) and then says so
// on stderr: only from then on is a change or a publish sure to reach it,
// so whoever starts it in the background can wait for that line. A stream
// that ended instead has no headers; recv tells how it ended.
func (a *app) accepted(header func() (grpcmd.MD, error), recv func() error, line string) error {
	hdr, err := header()
	if err == nil && hdr == nil {
		if err = recv(); err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the server ended the stream without accepting it")
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, line)
	return nil
}
