package runtime

import "context"

// CreateOptions are the settings of one Create.
type CreateOptions struct {
	Context context.Context
	// Namespace to run in; default the client's.
	Namespace string
	// Entrypoint is the directory or file within the source to run.
	Entrypoint string
	// Env is K=V pairs added to the service's environment.
	Env []string
	// Force replaces a service that is already running.
	Force bool
	// Type, Image, Command, Args, Secrets, Volumes and Instances are
	// Micro's; the local runtime refuses a custom command or image and
	// more than one instance with a 400 that says so.
	Type, Image   string
	Command, Args []string
	Secrets       map[string]string
	Volumes       map[string]string
	Instances     int
}

// CreateOption sets a CreateOptions field.
type CreateOption func(*CreateOptions)

// CreateContext sets the call's context.
func CreateContext(ctx context.Context) CreateOption {
	return func(o *CreateOptions) { o.Context = ctx }
}

// CreateNamespace runs the service in namespace ns.
func CreateNamespace(ns string) CreateOption { return func(o *CreateOptions) { o.Namespace = ns } }

// CreateEntrypoint sets the directory or file within the source to run.
func CreateEntrypoint(e string) CreateOption { return func(o *CreateOptions) { o.Entrypoint = e } }

// CreateType sets the service's type.
func CreateType(t string) CreateOption { return func(o *CreateOptions) { o.Type = t } }

// CreateImage sets the image to run (refused by the local runtime).
func CreateImage(img string) CreateOption { return func(o *CreateOptions) { o.Image = img } }

// CreateInstances sets how many instances to run.
func CreateInstances(n int) CreateOption { return func(o *CreateOptions) { o.Instances = n } }

// WithEnv sets the K=V pairs added to the service's environment.
func WithEnv(env []string) CreateOption {
	return func(o *CreateOptions) { o.Env = env }
}

// WithForce replaces a service that is already running.
func WithForce(f bool) CreateOption { return func(o *CreateOptions) { o.Force = f } }

// WithCommand sets the command to run (refused by the local runtime).
func WithCommand(cmd ...string) CreateOption { return func(o *CreateOptions) { o.Command = cmd } }

// WithArgs sets the command's arguments.
func WithArgs(args ...string) CreateOption { return func(o *CreateOptions) { o.Args = args } }

// WithSecret adds a secret.
func WithSecret(key, value string) CreateOption {
	return func(o *CreateOptions) {
		if o.Secrets == nil {
			o.Secrets = map[string]string{}
		}
		o.Secrets[key] = value
	}
}

// WithVolume adds a volume.
func WithVolume(name, path string) CreateOption {
	return func(o *CreateOptions) {
		if o.Volumes == nil {
			o.Volumes = map[string]string{}
		}
		o.Volumes[name] = path
	}
}

// ReadOptions are the settings of one Read.
type ReadOptions struct {
	Context                           context.Context
	Service, Version, Type, Namespace string
}

// ReadOption sets a ReadOptions field.
type ReadOption func(*ReadOptions)

// ReadService lists only the service named s.
func ReadService(s string) ReadOption { return func(o *ReadOptions) { o.Service = s } }

// ReadVersion lists only version v.
func ReadVersion(v string) ReadOption { return func(o *ReadOptions) { o.Version = v } }

// ReadType lists only services of type t.
func ReadType(t string) ReadOption { return func(o *ReadOptions) { o.Type = t } }

// ReadNamespace lists namespace ns's services.
func ReadNamespace(ns string) ReadOption { return func(o *ReadOptions) { o.Namespace = ns } }

// ReadContext sets the call's context.
func ReadContext(ctx context.Context) ReadOption { return func(o *ReadOptions) { o.Context = ctx } }

// UpdateOptions are the settings of one Update.
type UpdateOptions struct {
	Context    context.Context
	Namespace  string
	Entrypoint string
	Instances  int
}

// UpdateOption sets an UpdateOptions field.
type UpdateOption func(*UpdateOptions)

// UpdateNamespace updates in namespace ns.
func UpdateNamespace(ns string) UpdateOption { return func(o *UpdateOptions) { o.Namespace = ns } }

// UpdateContext sets the call's context.
func UpdateContext(ctx context.Context) UpdateOption {
	return func(o *UpdateOptions) { o.Context = ctx }
}

// UpdateEntrypoint sets the directory or file within the source to run.
func UpdateEntrypoint(e string) UpdateOption { return func(o *UpdateOptions) { o.Entrypoint = e } }

// UpdateInstances sets how many instances to run.
func UpdateInstances(n int) UpdateOption { return func(o *UpdateOptions) { o.Instances = n } }

// DeleteOptions are the settings of one Delete.
type DeleteOptions struct {
	Context   context.Context
	Namespace string
}

// DeleteOption sets a DeleteOptions field.
type DeleteOption func(*DeleteOptions)

// DeleteNamespace deletes from namespace ns.
func DeleteNamespace(ns string) DeleteOption { return func(o *DeleteOptions) { o.Namespace = ns } }

// DeleteContext sets the call's context.
func DeleteContext(ctx context.Context) DeleteOption {
	return func(o *DeleteOptions) { o.Context = ctx }
}

// LogsOptions are the settings of one Logs.
type LogsOptions struct {
	Context   context.Context
	Namespace string
	// Count is how many of the newest records to send (0: all kept).
	Count int64
	// Stream keeps following new records until Stop.
	Stream bool
}

// LogsOption sets a LogsOptions field.
type LogsOption func(*LogsOptions)

// LogsCount sends the newest n records.
func LogsCount(n int64) LogsOption { return func(o *LogsOptions) { o.Count = n } }

// LogsStream follows new records.
func LogsStream(s bool) LogsOption { return func(o *LogsOptions) { o.Stream = s } }

// LogsNamespace reads from namespace ns.
func LogsNamespace(ns string) LogsOption { return func(o *LogsOptions) { o.Namespace = ns } }

// LogsContext sets the stream's context.
func LogsContext(ctx context.Context) LogsOption { return func(o *LogsOptions) { o.Context = ctx } }
