package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// EndpointEnv names the S3 endpoint for services other than AWS when the
// URL has no ?endpoint=.
const EndpointEnv = "MICRO_BACKUP_S3_ENDPOINT"

// s3Retries bounds the client's own retries of one request; the scheduler
// retries a failed backup later anyway.
const s3Retries = 3

// S3 is a destination in an S3-compatible bucket (AWS S3, DigitalOcean
// Spaces, MinIO, Cloudflare R2, ...), under a prefix.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"
	name   string // for String: the URL without the query's credentials
}

// OpenS3 returns the destination s3://bucket/prefix names. Query
// parameters, each also settable from the environment:
//
//	endpoint    host[:port] or http(s)://host[:port] of the service
//	            (MICRO_BACKUP_S3_ENDPOINT); default AWS S3. http:// means
//	            no TLS, for a MinIO on the same network.
//	region      AWS_REGION, else AWS_DEFAULT_REGION; default us-east-1
//	            where the service does not tell.
//	path-style  true to address the bucket in the path rather than the
//	            host name; by default only AWS and Google get host names.
//
// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), else the shared credentials file (~/.aws/credentials,
// AWS_PROFILE), else, for AWS itself, the instance's IAM role. They never
// go in the URL.
func OpenS3(target string) (*S3, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("backup destination %q: %w", target, err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("backup destination %q: put credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("backup destination %q: name a bucket, as s3://bucket/prefix", target)
	}
	q := u.Query()
	for key := range q {
		switch key {
		case "endpoint", "region", "path-style":
		default:
			return nil, fmt.Errorf("backup destination %q: unknown parameter %q (endpoint, region and path-style are known)", target, key)
		}
	}
	endpoint := first(q.Get("endpoint"), os.Getenv(EndpointEnv))
	region := first(q.Get("region"), os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	secure := true
	aws := endpoint == ""
	shown := endpoint
	switch {
	case aws:
		endpoint = "s3.amazonaws.com"
	case strings.HasPrefix(endpoint, "http://"), strings.HasPrefix(endpoint, "https://"):
		eu, err := url.Parse(endpoint)
		if err != nil || eu.Host == "" || (eu.Path != "" && eu.Path != "/") {
			return nil, fmt.Errorf("backup endpoint %q: give host[:port] or http(s)://host[:port]", endpoint)
		}
		secure = eu.Scheme == "https"
		endpoint = eu.Host
	case strings.Contains(endpoint, "/"):
		return nil, fmt.Errorf("backup endpoint %q: give host[:port] or http(s)://host[:port]", endpoint)
	}
	lookup := minio.BucketLookupAuto
	if ps := q.Get("path-style"); ps != "" {
		b, err := strconv.ParseBool(ps)
		if err != nil {
			return nil, fmt.Errorf("backup destination %q: path-style must be true or false", target)
		}
		if b {
			lookup = minio.BucketLookupPath
		} else {
			lookup = minio.BucketLookupDNS
		}
	}

	providers := []credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}}
	if aws {
		providers = append(providers, &credentials.IAM{})
	}
	creds := credentials.NewChainCredentials(providers)
	if v, err := creds.Get(); err != nil || v.AccessKeyID == "" {
		return nil, fmt.Errorf("backup destination %s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", u.Redacted())
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		MaxRetries:   s3Retries,
	})
	if err != nil {
		return nil, fmt.Errorf("backup destination %s: %w", u.Redacted(), err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	name := "s3://" + u.Host + "/" + prefix
	if !aws {
		name += "?endpoint=" + shown
	}
	return &S3{client: client, bucket: u.Host, prefix: prefix, name: name}, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *S3) String() string { return s.name }

func (s *S3) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+name, r, size, minio.PutObjectOptions{
		ContentType: "application/gzip",
	})
	return s.wrap("put "+name, err)
}

func (s *S3) List(ctx context.Context) ([]Object, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing's goroutine on an early return
	var out []Object
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if o.Err != nil {
			return nil, s.wrap("list", o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.prefix)
		if name == "" || strings.HasSuffix(name, "/") {
			continue // a "directory"
		}
		out = append(out, Object{Name: name, Size: o.Size, Modified: o.LastModified})
	}
	return out, nil
}

func (s *S3) Get(ctx context.Context, name string, limit int64) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	opts := minio.GetObjectOptions{}
	if limit > 0 {
		if err := opts.SetRange(0, limit-1); err != nil {
			return nil, err
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+name, opts)
	if err != nil {
		return nil, s.wrap("get "+name, err)
	}
	// GetObject is lazy: Stat makes the request, so a missing object is
	// an error here rather than at the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.wrap("get "+name, err)
	}
	return obj, nil
}

func (s *S3) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return s.wrap("delete "+name, s.client.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{}))
}

// wrap names the destination in an error, and turns S3's missing object
// or bucket into ErrNotFound.
func (s *S3) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey:
		return fmt.Errorf("%s %s: %w", op, s.name, ErrNotFound)
	case minio.NoSuchBucket:
		return fmt.Errorf("%s %s: the bucket %s does not exist; create it first", op, s.name, s.bucket)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is the endpoint's, already named
	}
	return fmt.Errorf("%s %s: %w", op, s.name, err)
}
