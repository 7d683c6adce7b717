package runtime

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"

	"micro.dev/micro/framework/errors"
)

// resolveSource turns what the caller named into a service: an absolute
// directory on this machine, source://name:version (an upload), or a git
// source. An empty name is derived from the source.
func (r *Runtime) resolveSource(ctx context.Context, ns, name, version, source, entrypoint string) (Service, error) {
	var s Service
	var err error
	if entrypoint != "" {
		if entrypoint, err = cleanEntrypoint(entrypoint); err != nil {
			return s, err
		}
	}
	switch {
	case source == "":
		return s, errors.BadRequest(errID, "service.source is required: a directory on the server, a git URL, or source://name:version from Source.Upload")
	case strings.HasPrefix(source, uploadScheme):
		id := strings.TrimPrefix(source, uploadScheme)
		i := strings.LastIndex(id, ":")
		if i <= 0 || i == len(id)-1 {
			return s, errors.BadRequest(errID, "source %q: want source://name:version", source)
		}
		from, err := serviceKey(ns, id[:i], id[i+1:])
		if err != nil {
			return s, err
		}
		if name == "" {
			name = from.Name
		}
		if s.Key, err = serviceKey(ns, name, version); err != nil {
			return s, err
		}
		data, ok, err := r.backend.GetSource(ctx, from)
		if err != nil {
			return s, r.failed(ctx, "create", err)
		}
		if !ok {
			return s, errors.BadRequest(errID, "no uploaded source %s in namespace %s: upload it with Source.Upload first", source, ns)
		}
		if from != s.Key {
			if err := r.backend.PutSource(ctx, s.Key, data); err != nil {
				return s, r.failed(ctx, "create", err)
			}
		}
		s.Kind, s.Source, s.Entrypoint = KindUpload, uploadScheme+s.Name+":"+s.Version, entrypoint
	case filepath.IsAbs(source):
		fi, err := os.Stat(source)
		switch {
		case err != nil && os.IsNotExist(err):
			return s, errors.BadRequest(errID, "directory %s does not exist on the server", source)
		case err != nil:
			return s, errors.BadRequest(errID, "directory %s: %v", source, err)
		case !fi.IsDir():
			return s, errors.BadRequest(errID, "%s is not a directory", source)
		}
		if name == "" {
			name = filepath.Base(source)
		}
		if s.Key, err = serviceKey(ns, name, version); err != nil {
			return s, err
		}
		s.Kind, s.Source, s.Entrypoint = KindLocal, filepath.Clean(source), entrypoint
	default:
		g, err := parseGitSource(source)
		if err != nil {
			return s, errors.BadRequest(errID, "%v", err)
		}
		if name == "" {
			name = gitServiceName(g)
		}
		if s.Key, err = serviceKey(ns, name, version); err != nil {
			return s, err
		}
		s.Kind, s.Source, s.Ref, s.Entrypoint = KindGit, g.URL, g.Ref, g.Entrypoint
		if entrypoint != "" {
			s.Entrypoint = entrypoint
		}
	}
	return s, nil
}

// shownSource is the source as status shows it: a git source with its
// directory (//dir) and ref (@ref), which Source alone leaves out.
func (s Service) shownSource() string {
	if s.Kind != KindGit {
		return s.Source
	}
	out := s.Source
	if s.Entrypoint != "" {
		out += "//" + s.Entrypoint
	}
	if s.Ref != "" {
		out += "@" + s.Ref
	}
	return out
}

func cleanEntrypoint(ep string) (string, error) {
	clean := path.Clean(filepath.ToSlash(ep))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.BadRequest(errID, "entrypoint %q must be a directory inside the source", ep)
	}
	if clean == "." {
		clean = ""
	}
	return clean, nil
}

// serviceKey validates a service's name and version (default "latest").
func serviceKey(ns, name, version string) (Key, error) {
	if version == "" {
		version = DefaultVersion
	}
	switch {
	case name == "":
		return Key{}, errors.BadRequest(errID, "service name is required")
	case !validName.MatchString(name):
		return Key{}, errors.BadRequest(errID, "service name %q is not valid: use letters, digits, '.', '_' and '-' (at most 128)", name)
	case !validName.MatchString(version):
		return Key{}, errors.BadRequest(errID, "service version %q is not valid: use letters, digits, '.', '_' and '-' (at most 128)", version)
	}
	return Key{Namespace: ns, Name: name, Version: version}, nil
}

func checkEnv(env []string) error {
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, "\x00") {
			return errors.BadRequest(errID, "env %q: want KEY=VALUE", kv)
		}
	}
	return nil
}
