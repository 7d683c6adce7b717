// Package backuptest serves an S3-compatible bucket on loopback for tests
// of backups (an in-memory gofakes3), the way a MinIO or R2 would answer.
package backuptest

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Credentials the fake accepts (it accepts any); tests set them as
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
const (
	AccessKey = "micro-test"
	SecretKey = "micro-test-secret"
)

// S3 is a running fake S3 server.
type S3 struct {
	// Endpoint is http://127.0.0.1:port.
	Endpoint string
	Backend  *s3mem.Backend
}

// NewS3 serves an S3 API on 127.0.0.1:0 with the given buckets until the
// test ends.
func NewS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	fake := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(fake.Server())
	t.Cleanup(srv.Close)
	return &S3{Endpoint: srv.URL, Backend: be}
}

// Env returns the environment a client of the fake needs, as KEY=VALUE.
func (s *S3) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
}

// SetEnv sets that environment for the rest of the test.
func (s *S3) SetEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
}
