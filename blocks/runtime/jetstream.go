package runtime

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
	"micro.dev/micro/framework/errors"
)

// Where a cluster's runtime state lives: services' desired state and
// status in a bucket, their source archives in an object store, their logs
// in a stream. The processes a node started stay in its own SQLite file:
// process groups are that machine's.
const (
	ServicesBucket = "micro_runtime"
	SourcesBucket  = "micro_runtime_sources"
	LogsStream     = "micro_runtime_logs"
)

// Bounds of the shared state, so a caller's mistake cannot fill every
// node's disk: sources (each at most MaxSourceSize) and logs. Each
// service's logs are also capped by LogLines and LogAge, per subject.
const (
	sourcesMaxBytes = 8 << 30
	logsMaxBytes    = 1 << 30
)

// logSubjects is where services' log lines go, one subject per service,
// its names as tokens.
const logSubjects = "micro.rtlog."

func serviceKeyOf(k Key) string { return "svc." + keyTokens(k) }

func keyTokens(k Key) string {
	return jsstorage.Key(jsstorage.Token(k.Namespace), jsstorage.Token(k.Name), jsstorage.Token(k.Version))
}

func sourceName(k Key) string { return serviceKeyOf(k) }

func logSubject(k Key) string {
	return logSubjects + keyTokens(k)
}

// jsBackend keeps services, sources and logs on JetStream and processes in
// the node's SQLite file.
type jsBackend struct {
	*sqliteBackend // processes only
	js             jetstream.JetStream
	replicas       int
	logLines       int
	logAge         time.Duration
	maxLine        int

	mu      sync.Mutex
	kv      jetstream.KeyValue
	sources jetstream.ObjectStore
}

func newJetStream(local *sqliteBackend, js jetstream.JetStream, cfg Config) *jsBackend {
	return &jsBackend{sqliteBackend: local, js: js, replicas: max(cfg.Replicas, 1),
		logLines: cfg.LogLines, logAge: cfg.LogAge, maxLine: cfg.MaxLineBytes}
}

// bind creates or updates the bucket, object store and stream on first
// use; a failure is returned and tried again on the next call.
func (b *jsBackend) bind(ctx context.Context) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, b.sources, nil
	}
	kv, _, err := jsstorage.Bucket(ctx, b.js, jsstorage.Config{
		Bucket:      ServicesBucket,
		Description: "micro runtime: each service's desired state, status and owning node",
		MaxBytes:    64 << 20,
		Replicas:    b.replicas,
	})
	if err != nil {
		return nil, nil, jsstorage.Unavailable(errID, err)
	}
	obs, _, err := jsstorage.ObjectStore(ctx, b.js, jetstream.ObjectStoreConfig{
		Bucket:      SourcesBucket,
		Description: "micro runtime: services' source archives (tar.gz)",
		MaxBytes:    sourcesMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
	})
	if err != nil {
		return nil, nil, jsstorage.Unavailable(errID, err)
	}
	maxAge := b.logAge
	if maxAge < 0 {
		maxAge = 0
	}
	perSubject := int64(b.logLines)
	if perSubject <= 0 {
		perSubject = -1
	}
	if _, err := jsstorage.Stream(ctx, b.js, jetstream.StreamConfig{
		Name:              LogsStream,
		Description:       "micro runtime: services' logs, one subject per service",
		Subjects:          []string{logSubjects + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          b.replicas,
		MaxMsgsPerSubject: perSubject,
		MaxAge:            maxAge,
		MaxBytes:          logsMaxBytes,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	}); err != nil {
		return nil, nil, jsstorage.Unavailable(errID, err)
	}
	b.kv, b.sources = kv, obs
	return kv, obs, nil
}

// storedService is a Service as the bucket keeps it.
type storedService struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	Kind       SourceKind        `json:"kind"`
	Source     string            `json:"source"`
	Ref        string            `json:"ref,omitempty"`
	Entrypoint string            `json:"entrypoint,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Watch      bool              `json:"watch,omitempty"`
	Status     Status            `json:"status"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Created    int64             `json:"created"`
	Updated    int64             `json:"updated"`
}

func (s storedService) service() Service {
	return Service{Key: Key{s.Namespace, s.Name, s.Version}, Kind: s.Kind, Source: s.Source, Ref: s.Ref,
		Entrypoint: s.Entrypoint, Env: nonNil(s.Env), Watch: s.Watch, Status: s.Status, Metadata: nonNilMap(s.Metadata),
		Created: time.Unix(0, s.Created), Updated: time.Unix(0, s.Updated)}
}

func (b *jsBackend) load(ctx context.Context, k Key) (storedService, uint64, error) {
	var s storedService
	kv, _, err := b.bind(ctx)
	if err != nil {
		return s, 0, err
	}
	e, err := kv.Get(ctx, serviceKeyOf(k))
	if stderrors.Is(err, jetstream.ErrKeyNotFound) {
		return s, 0, nil
	}
	if err != nil {
		return s, 0, jsstorage.Unavailable(errID, err)
	}
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return s, 0, fmt.Errorf("service %s: %w", k, err)
	}
	return s, e.Revision(), nil
}

// change applies fn to the stored service with compare-and-set, again on a
// fresh read when another node wrote it first. fn returns false to write
// nothing.
func (b *jsBackend) change(ctx context.Context, k Key, fn func(s *storedService, exists bool) bool) error {
	kv, _, err := b.bind(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 100; attempt++ {
		s, rev, err := b.load(ctx, k)
		if err != nil {
			return err
		}
		if !fn(&s, rev != 0) {
			return nil
		}
		data, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, serviceKeyOf(k), data)
		} else {
			_, err = kv.Update(ctx, serviceKeyOf(k), data, rev)
		}
		if err == nil {
			return nil
		}
		if !jsstorage.IsConflict(err) {
			return jsstorage.Unavailable(errID, err)
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
	return errors.Conflict(errID, "service %s is being changed by too many writers at once; try again", k)
}

func (b *jsBackend) PutService(ctx context.Context, s Service) error {
	now := b.now().UnixNano()
	return b.change(ctx, s.Key, func(cur *storedService, exists bool) bool {
		created := now
		if exists {
			created = cur.Created
		}
		*cur = storedService{Namespace: s.Namespace, Name: s.Name, Version: s.Version, Kind: s.Kind, Source: s.Source,
			Ref: s.Ref, Entrypoint: s.Entrypoint, Env: s.Env, Watch: s.Watch, Status: s.Status,
			Metadata: maps.Clone(s.Metadata), Created: created, Updated: now}
		return true
	})
}

func (b *jsBackend) GetService(ctx context.Context, k Key) (Service, bool, error) {
	s, rev, err := b.load(ctx, k)
	if err != nil || rev == 0 {
		return Service{}, false, err
	}
	return s.service(), true, nil
}

func (b *jsBackend) ListServices(ctx context.Context, namespace string) ([]Service, error) {
	kv, _, err := b.bind(ctx)
	if err != nil {
		return nil, err
	}
	filter := "svc.>"
	if namespace != "" {
		filter = "svc." + jsstorage.Token(namespace) + ".>"
	}
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, jsstorage.Unavailable(errID, err)
	}
	defer w.Stop()
	var out []Service
	for e := range w.Updates() {
		if e == nil {
			break // caught up
		}
		var s storedService
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			return nil, fmt.Errorf("service %s: %w", e.Key(), err)
		}
		out = append(out, s.service())
	}
	slices.SortFunc(out, func(a, b Service) int {
		return strings.Compare(a.Namespace+"\x00"+a.Name+"\x00"+a.Version, b.Namespace+"\x00"+b.Name+"\x00"+b.Version)
	})
	return out, nil
}

func (b *jsBackend) DeleteService(ctx context.Context, k Key) error {
	kv, obs, err := b.bind(ctx)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, serviceKeyOf(k)); err != nil && !stderrors.Is(err, jetstream.ErrKeyNotFound) {
		return jsstorage.Unavailable(errID, err)
	}
	if err := obs.Delete(ctx, sourceName(k)); err != nil && !stderrors.Is(err, jetstream.ErrObjectNotFound) {
		return jsstorage.Unavailable(errID, err)
	}
	s, err := b.js.Stream(ctx, LogsStream)
	if err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(logSubject(k))); err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	return nil
}

func (b *jsBackend) SetStatus(ctx context.Context, k Key, status Status, md map[string]string) error {
	now := b.now().UnixNano()
	return b.change(ctx, k, func(s *storedService, exists bool) bool {
		if !exists {
			return false // deleted meanwhile
		}
		if s.Metadata == nil {
			s.Metadata = map[string]string{}
		}
		for key, v := range md {
			if v == "" {
				delete(s.Metadata, key)
			} else {
				s.Metadata[key] = v
			}
		}
		s.Status, s.Updated = status, now
		return true
	})
}

func (b *jsBackend) PutSource(ctx context.Context, k Key, data []byte) error {
	_, obs, err := b.bind(ctx)
	if err != nil {
		return err
	}
	if _, err := obs.PutBytes(ctx, sourceName(k), nonNil(data)); err != nil {
		return jsstorage.Unavailable(errID, err)
	}
	return nil
}

func (b *jsBackend) GetSource(ctx context.Context, k Key) ([]byte, bool, error) {
	_, obs, err := b.bind(ctx)
	if err != nil {
		return nil, false, err
	}
	data, err := obs.GetBytes(ctx, sourceName(k))
	if stderrors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, jsstorage.Unavailable(errID, err)
	}
	return data, true, nil
}

// Log line headers; the message is the data.
const (
	hdrTime     = "Micro-Time"
	hdrStream   = "Micro-Stream"
	hdrInstance = "Micro-Instance"
)

// AppendLogs publishes the lines in order and waits for all. The cap is
// the stream's: LogLines per service (one subject each), LogAge, and
// logsMaxBytes for all services together (oldest first); not a per-service
// byte cap as on SQLite.
func (b *jsBackend) AppendLogs(ctx context.Context, k Key, lines []LogLine, limit LogCap) error {
	if len(lines) == 0 {
		return nil
	}
	if _, _, err := b.bind(ctx); err != nil {
		return err
	}
	if limit.Lines > 0 && len(lines) > limit.Lines {
		lines = lines[len(lines)-limit.Lines:]
	}
	futures := make([]jetstream.PubAckFuture, 0, len(lines))
	for _, l := range lines {
		m := nats.NewMsg(logSubject(k))
		m.Data = []byte(l.Message)
		m.Header.Set(hdrTime, strconv.FormatInt(l.Time.UnixNano(), 10))
		m.Header.Set(hdrStream, l.Stream)
		if l.Instance != "" {
			m.Header.Set(hdrInstance, l.Instance)
		}
		f, err := b.js.PublishMsgAsync(m, jetstream.WithExpectStream(LogsStream))
		if err != nil {
			return jsstorage.Unavailable(errID, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return jsstorage.Unavailable(errID, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ReadLogs reads the service's lines (at most LogLines of them are kept)
// in one batched direct get from AfterID on; line ids are the stream's
// sequence numbers.
func (b *jsBackend) ReadLogs(ctx context.Context, k Key, q LogQuery) ([]LogLine, error) {
	if _, _, err := b.bind(ctx); err != nil {
		return nil, err
	}
	var out []LogLine
	from := uint64(max(q.AfterID, 0)) + 1
	for {
		const batch = 1000
		got := 0
		var last uint64
		err := jsstorage.DirectGet(ctx, b.js.Conn(), LogsStream, jsstorage.GetRequest{Seq: from, NextBySubject: logSubject(k), Batch: batch},
			func(m *jsstorage.Msg) bool {
				got, last = got+1, m.Seq
				ts, _ := strconv.ParseInt(m.Header.Get(hdrTime), 10, 64)
				l := LogLine{ID: int64(m.Seq), Time: time.Unix(0, ts), Stream: m.Header.Get(hdrStream),
					Instance: m.Header.Get(hdrInstance), Message: string(m.Data)}
				if q.Since.IsZero() || !l.Time.Before(q.Since) {
					out = append(out, l)
				}
				return got < batch
			})
		if err != nil {
			return nil, jsstorage.Unavailable(errID, err)
		}
		if got < batch {
			break
		}
		from = last + 1
	}
	if q.Last > 0 && len(out) > q.Last {
		out = out[len(out)-q.Last:]
	}
	return out, nil
}
