package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/blocks/runtime/source"
	microclient "micro.dev/micro/framework/client"
	pb "micro.dev/micro/proto/runtime"
)

// buildTimeout bounds micro run and micro update, which wait for the
// server's build.
const buildTimeout = 15 * time.Minute

// uploadChunk is the size of one Source.Upload message.
const uploadChunk = 512 << 10

// envList is --env_vars: repeatable, each a comma-separated K=V list.
type envList []string

func (l *envList) String() string { return strings.Join(*l, ",") }

func (l *envList) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		*l = append(*l, kv)
	}
	return nil
}

// runFlags are the flags micro run and micro update share.
type runFlags struct {
	name, version string
	env           envList
	watch         bool
	force         bool
	upload        bool
	micro         microRunFlags // Micro's other flags (runcompat.go)
}

func (f *runFlags) register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.name, "name", "", "service name (default the directory's or repository's name)")
	fs.StringVar(&f.version, "version", "", "service version (default latest)")
	fs.BoolVar(&f.upload, "upload", false, "upload the directory even to a server on this machine (e.g. one in a container)")
	if create {
		fs.Var(&f.env, "env_vars", "environment `K=V` for the service; repeat or separate with commas")
		fs.BoolVar(&f.watch, "watch", false, "rebuild on save: the server watches a local directory (the default there);\nfor a remote server, re-upload on every change (runs until Ctrl-C)")
		fs.BoolVar(&f.force, "force", false, "replace the service if it is already running")
	}
	f.micro.register(fs, create)
}

// runCommand is `micro run <dir|git-url>`.
func (a *app) runCommand() *ffcli.Command {
	const path = "micro run"
	var (
		f  runFlags
		fs = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	f.register(fs, true)
	cmd := a.leaf("run", path+" [flags] <dir|git-url>", "Build and run a service from a directory or git repository", fs,
		func(ctx context.Context, args []string) error {
			src, err := f.micro.sourceArg(path, args)
			if err != nil || src == "" {
				return cmp.Or(err, usageErrorf(path, "expected one source: a directory (.) or a git URL"))
			}
			f.micro.warnIgnored(a.stderr, path)
			if src, err = a.expandShortName(src); err != nil {
				return err
			}
			watchSet := false
			fs.Visit(func(fl *flag.Flag) { watchSet = watchSet || fl.Name == "watch" })
			return a.run(ctx, src, f, watchSet)
		})
	cmd.LongHelp = "Build a service with go build on the server and run it there, supervised. The source is\n" +
		"a directory (sent as a path to a server on this machine, else uploaded), or a git repository:\n" +
		"github.com/org/repo/dir[@ref], or any git URL (https://, ssh://, file://) with //dir and @ref.\n" +
		"A directory is watched: saving a file rebuilds the service and swaps in the new version."
	return cmd
}

// run and update bound each build with buildTimeout themselves: a watch
// runs until Ctrl-C, uploading and rebuilding as files change.
func (a *app) run(ctx context.Context, source string, f runFlags, watchSet bool) error {
	return a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
		return a.runWith(ctx, cl, source, f, watchSet)
	})
}

func (a *app) runWith(ctx context.Context, cl *client, source string, f runFlags, watchSet bool) error {
	rt := pb.NewRuntimeClient(cl.conn)
	dir, isDir, err := localSource(source)
	if err != nil {
		return err
	}
	svc := &pb.Service{Name: f.name, Version: f.version, Metadata: f.micro.metadataMap()}
	opts := &pb.CreateOptions{Namespace: cl.target.Namespace, Env: f.env, Force: f.force}
	switch name := f.name; {
	case name != "":
		a.noteOtherInstances(ctx, cl, name)
	case isDir:
		a.noteOtherInstances(ctx, cl, filepath.Base(dir))
	default:
		a.noteOtherInstances(ctx, cl, gitName(source))
	}
	if !isDir {
		svc.Source = source
		return cl.buildCall(ctx, func(ctx context.Context) error {
			_, err := rt.Create(ctx, &pb.CreateRequest{Resource: &pb.Resource{Service: svc}, Options: opts})
			return err
		})
	}
	if svc.Name == "" {
		svc.Name = filepath.Base(dir)
	}
	svc.Metadata["source"] = dir
	remote := f.upload || !isLoopback(cl.target.Address)
	if !remote {
		svc.Source, opts.Watch = dir, f.watch || !watchSet
		err := cl.buildCall(ctx, func(ctx context.Context) error {
			_, err := rt.Create(ctx, &pb.CreateRequest{Resource: &pb.Resource{Service: svc}, Options: opts})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "does not exist on the server") {
			return err
		}
		// A server on this machine that cannot see the directory (it runs
		// in a container, or as another user): send the files instead.
	}
	if err := cl.buildCall(ctx, func(ctx context.Context) error {
		id, err := cl.upload(ctx, dir, svc.Name, svc.Version)
		if err != nil {
			return err
		}
		svc.Source, opts.Watch = id, false
		_, err = rt.Create(ctx, &pb.CreateRequest{Resource: &pb.Resource{Service: svc}, Options: opts})
		return err
	}); err != nil {
		return err
	}
	if remote && f.watch {
		return a.watchAndUpload(ctx, cl, dir, svc)
	}
	return nil
}

// updateCommand is `micro update <dir|git-url|name>`.
func (a *app) updateCommand() *ffcli.Command {
	const path = "micro update"
	var (
		f  runFlags
		fs = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	f.register(fs, false)
	return a.leaf("update", path+" [flags] <dir|git-url|name[@version]>", "Fetch a service's source again, rebuild it and swap in the new version", fs,
		func(ctx context.Context, args []string) error {
			src, err := f.micro.sourceArg(path, args)
			if err != nil || src == "" {
				return cmp.Or(err, usageErrorf(path, "expected one service: a directory (.), a git URL or a name"))
			}
			f.micro.warnIgnored(a.stderr, path)
			return a.update(ctx, src, f)
		})
}

func (a *app) update(ctx context.Context, arg string, f runFlags) error {
	return a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
		return a.updateWith(ctx, cl, arg, f)
	})
}

func (a *app) updateWith(ctx context.Context, cl *client, arg string, f runFlags) error {
	rt := pb.NewRuntimeClient(cl.conn)
	svc := &pb.Service{Name: f.name, Version: f.version}
	dir, isDir, err := localSource(arg)
	switch {
	case err != nil && !isServiceName(arg):
		return err
	case isDir:
		if svc.Name == "" {
			svc.Name = filepath.Base(dir)
		}
		if f.upload || !isLoopback(cl.target.Address) {
			return cl.buildCall(ctx, func(ctx context.Context) error {
				id, err := cl.upload(ctx, dir, svc.Name, svc.Version)
				if err != nil {
					return err
				}
				svc.Source = id
				_, err = rt.Update(ctx, &pb.UpdateRequest{Resource: &pb.Resource{Service: svc}, Options: &pb.UpdateOptions{Namespace: cl.target.Namespace}})
				return err
			})
		}
		svc.Source = dir
	case isServiceName(arg):
		name, version, _ := strings.Cut(arg, "@")
		svc.Name = name
		if svc.Version == "" {
			svc.Version = version
		}
	default: // a git source
		svc.Source = arg
		if svc.Name == "" {
			svc.Name = gitName(arg)
		}
	}
	return cl.buildCall(ctx, func(ctx context.Context) error {
		_, err := rt.Update(ctx, &pb.UpdateRequest{Resource: &pb.Resource{Service: svc}, Options: &pb.UpdateOptions{Namespace: cl.target.Namespace}})
		return err
	})
}

// killCommand is `micro kill <name[@version]>...`.
func (a *app) killCommand() *ffcli.Command {
	const path = "micro kill"
	var (
		version string
		fs      = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&version, "version", "", "service version (default latest)")
	return a.leaf("kill", path+" [flags] <name[@version]>...", "Stop services and remove them with their logs", fs,
		func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usageErrorf(path, "expected a service name (. for the current directory's)")
			}
			return a.withClient(ctx, callOptions{timeout: noTimeout}, func(ctx context.Context, cl *client) error {
				rt := pb.NewRuntimeClient(cl.conn)
				for _, arg := range args {
					name, v := serviceRef(arg)
					if v == "" {
						v = version
					}
					err := cl.buildCall(ctx, func(ctx context.Context) error {
						_, err := rt.Delete(ctx, &pb.DeleteRequest{
							Resource: &pb.Resource{Service: &pb.Service{Name: name, Version: v}},
							Options:  &pb.DeleteOptions{Namespace: cl.target.Namespace},
						})
						return err
					})
					if err != nil {
						return err
					}
				}
				return nil
			})
		})
}

// serviceRef reads name[@version]; "." is the current directory's name.
func serviceRef(arg string) (name, version string) {
	name, version, _ = strings.Cut(arg, "@")
	if name == "." {
		if wd, err := os.Getwd(); err == nil {
			name = filepath.Base(wd)
		}
	}
	return name, version
}

// buildCall runs one step of a command that withClient connected with
// noTimeout, bounded by a timeout long enough for a build, and reports its
// error as the user sees it (run prints a watch's failed rebuild and goes
// on).
func (c *client) buildCall(ctx context.Context, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	return c.err(call(ctx))
}

// localSource resolves a source argument that names a directory. isDir is
// false for something that is not a path but a git source; err explains a
// path that is not a usable directory.
func localSource(arg string) (dir string, isDir bool, err error) {
	fi, statErr := os.Stat(arg)
	if statErr == nil {
		if !fi.IsDir() {
			return "", false, exitf(exitFailure, "%s is not a directory: give the directory of the service's main package", arg)
		}
		abs, err := filepath.Abs(arg)
		return abs, err == nil, err
	}
	if looksLikeGit(arg) {
		return "", false, nil
	}
	return "", false, exitf(exitFailure, "Directory %s does not exist", arg)
}

// looksLikeGit: a URL, an scp-style address, or host.tld/org/repo.
func looksLikeGit(s string) bool {
	if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") {
		return true
	}
	parts := strings.Split(s, "/")
	return len(parts) >= 3 && strings.Contains(parts[0], ".") && !strings.HasPrefix(s, ".")
}

// isServiceName: a bare name[@version], no path.
func isServiceName(s string) bool {
	name, _, _ := strings.Cut(s, "@")
	return name != "" && !strings.ContainsAny(name, `/\:`) && name != "." && name != ".."
}

// gitName is the service name the server derives from a git source.
func gitName(src string) string {
	if i := strings.LastIndex(src, "@"); i > strings.LastIndex(src, "/") {
		src = src[:i]
	}
	if _, rest, ok := strings.Cut(src, "://"); ok {
		if _, dir, ok := strings.Cut(rest, "//"); ok && dir != "" {
			return path.Base(dir)
		}
		src = rest
	} else if parts := strings.Split(src, "/"); len(parts) > 3 {
		return parts[len(parts)-1]
	}
	base := path.Base(strings.TrimRight(src, "/"))
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base = base[i+1:]
	}
	return strings.TrimSuffix(base, ".git")
}

// isLoopback reports whether the proxy at addr is on this machine, so the
// server can read a directory by its path.
func isLoopback(addr string) bool {
	t, err := microclient.ParseTarget(addr, microclient.Security{})
	if err != nil {
		return false
	}
	host, _, err := net.SplitHostPort(t.Address)
	return err == nil && microclient.IsLocalHost(host)
}

// upload sends dir as a tar.gz through Source.Upload and returns the id to
// create the service from.
func (c *client) upload(ctx context.Context, dir, name, version string) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(source.Pack(pw, dir, source.MaxSize)) }()
	defer pr.Close()
	stream, err := pb.NewSourceClient(c.conn).Upload(ctx)
	if err != nil {
		return "", err
	}
	buf := make([]byte, uploadChunk)
	first := true
	for {
		n, rerr := io.ReadFull(pr, buf)
		if n > 0 || first {
			msg := &pb.UploadRequest{Data: append([]byte(nil), buf[:n]...)}
			if first {
				msg.Service = &pb.Service{Name: name, Version: version}
				first = false
			}
			if err := stream.Send(msg); err != nil {
				break // the server's answer says why
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			stream.CloseSend()
			return "", exitf(exitFailure, "Reading %s: %v", dir, rerr)
		}
	}
	rsp, err := stream.CloseAndRecv()
	if err != nil {
		return "", err
	}
	return rsp.GetId(), nil
}
