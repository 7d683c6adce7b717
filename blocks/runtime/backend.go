package runtime

import (
	"context"
	"time"
)

// Backend is where the runtime's state persists: desired state and status of
// services, source archives, logs, and the process groups it started. The
// supervision logic lives above it in Runtime, so a clustered backend later
// serves the same behaviour.
type Backend interface {
	// PutService creates or replaces a service's desired state (its Status
	// and Metadata included).
	PutService(ctx context.Context, s Service) error
	// GetService returns one service; ok is false when there is none.
	GetService(ctx context.Context, k Key) (s Service, ok bool, err error)
	// ListServices returns the services of namespace (every namespace when
	// it is empty), sorted by namespace, name and version.
	ListServices(ctx context.Context, namespace string) ([]Service, error)
	// DeleteService removes a service with its source archive and its logs.
	DeleteService(ctx context.Context, k Key) error
	// SetStatus records the status of a service and merges md into its
	// metadata (an empty value deletes the key). A missing service is not
	// an error: it was deleted meanwhile.
	SetStatus(ctx context.Context, k Key, status Status, md map[string]string) error

	// PutSource stores the source archive (tar.gz) of a service.
	PutSource(ctx context.Context, k Key, data []byte) error
	// GetSource returns the source archive of a service; ok is false when
	// there is none.
	GetSource(ctx context.Context, k Key) (data []byte, ok bool, err error)

	// AppendLogs adds lines to a service's logs and, in the same
	// transaction, drops its oldest lines beyond the cap.
	AppendLogs(ctx context.Context, k Key, lines []LogLine, limit LogCap) error
	// ReadLogs returns a service's log lines that q selects, oldest first.
	ReadLogs(ctx context.Context, k Key, q LogQuery) ([]LogLine, error)

	// AddProcess records a process group the runtime started.
	AddProcess(ctx context.Context, p Process) error
	// RemoveProcess forgets a process group once it has ended.
	RemoveProcess(ctx context.Context, pgid int) error
	// Processes returns every process group recorded and not removed.
	Processes(ctx context.Context) ([]Process, error)
}

// Key names one service.
type Key struct {
	Namespace, Name, Version string
}

func (k Key) String() string { return k.Namespace + "/" + k.Name + ":" + k.Version }

// SourceKind says where a service's source comes from.
type SourceKind string

// Source kinds.
const (
	// KindLocal is a directory on the server's machine; the server reads it
	// and keeps a snapshot in the database.
	KindLocal SourceKind = "local"
	// KindUpload is a tar.gz uploaded with Source.Upload.
	KindUpload SourceKind = "upload"
	// KindGit is a git repository cloned by the server.
	KindGit SourceKind = "git"
)

// Status is a service's state, numbered as in Micro.
type Status int32

// Statuses.
const (
	StatusUnknown  Status = 0
	StatusPending  Status = 1
	StatusBuilding Status = 2
	StatusStarting Status = 3
	StatusRunning  Status = 4
	StatusStopping Status = 5
	StatusStopped  Status = 6
	StatusError    Status = 7
)

var statusNames = [...]string{"unknown", "pending", "building", "starting", "running", "stopping", "stopped", "error"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "unknown"
	}
	return statusNames[s]
}

// Service is the desired state of one service and its last status.
type Service struct {
	Key
	Kind SourceKind
	// Source is what the user named: an absolute directory, a git URL, or
	// source://name:version for an upload.
	Source string
	// Ref is the git branch, tag or commit ("" for the default branch).
	Ref string
	// Entrypoint is the directory, relative to the source root, holding the
	// main package.
	Entrypoint string
	// Env is the user's K=V variables.
	Env []string
	// Watch rebuilds a local source when its files change.
	Watch    bool
	Status   Status
	Metadata map[string]string
	Created  time.Time
	Updated  time.Time
}

// LogLine is one line of a service's logs.
type LogLine struct {
	// ID orders lines; it is set by the backend.
	ID      int64
	Time    time.Time
	Stream  string
	Message string
	// Instance is the process that wrote the line ("" for build and runtime
	// notes not tied to one process).
	Instance string
}

// LogCap bounds what each service keeps of its logs; the oldest lines go
// first. A zero field sets no bound.
type LogCap struct {
	// Lines is how many lines are kept.
	Lines int
	// Bytes bounds their size: each line counts its message and instance
	// plus lineOverhead bytes.
	Bytes int64
	// Age is how long a line is kept.
	Age time.Duration
}

// lineOverhead is what a log line costs beyond its message and instance
// (its row's other columns and index entry), for LogCap.Bytes.
const lineOverhead = 64

// size is l's share of LogCap.Bytes.
func (l LogLine) size() int64 { return int64(len(l.Message) + len(l.Instance) + lineOverhead) }

// Log streams.
const (
	StreamStdout  = "stdout"
	StreamStderr  = "stderr"
	StreamBuild   = "build"
	StreamRuntime = "runtime"
)

// LogQuery selects log lines.
type LogQuery struct {
	// AfterID selects lines newer than this id.
	AfterID int64
	// Since selects lines written at or after it (zero: any).
	Since time.Time
	// Last keeps only the newest Last lines (0: all).
	Last int
}

// Process is a process group the runtime started.
type Process struct {
	PGID     int
	Instance string
	Key
	Started time.Time
}
