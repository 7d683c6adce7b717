package runtime

import (
	"os"
	"strings"
)

// A service gets from the server's environment only what a program needs
// to run on this machine, named here: an allowlist, because the server's
// environment holds its secrets (MICRO_ADMIN_PASSWORD,
// MICRO_CONFIG_SECRET_KEY, MICRO_METRICS_TOKEN, cloud and backup
// credentials such as AWS_*) and a denylist would miss the next one. A
// service that needs more is given it with `micro run --env_vars`.
var (
	// serviceEnv are the variables a service inherits, by name.
	serviceEnv = []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG", "LANGUAGE",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
		// The Go runtime's own knobs, which an operator sets for every
		// process.
		"GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GOTRACEBACK",
	}
	// servicePrefixes are inherited by prefix: locale settings.
	servicePrefixes = []string{"LC_"}

	// toolEnv and toolPrefixes are what go build and git need beyond a
	// service's set: the Go toolchain's settings (go help environment),
	// the C toolchain's for cgo, git's and ssh's for private repositories.
	// Neither tool runs the service's code.
	toolEnv = []string{
		"GO111MODULE", "GOAMD64", "GOARCH", "GOARM", "GOARM64", "GOAUTH", "GOBIN", "GOCACHE", "GOCACHEPROG",
		"GOENV", "GOEXPERIMENT", "GOFIPS140", "GOFLAGS", "GOINSECURE", "GOMODCACHE", "GONOPROXY", "GONOSUMDB",
		"GOOS", "GOPATH", "GOPRIVATE", "GOPROXY", "GOROOT", "GOSUMDB", "GOTELEMETRY", "GOTELEMETRYDIR",
		"GOTMPDIR", "GOTOOLCHAIN", "GOVCS", "GOWORK", "GCCGO",
		"CC", "CXX", "AR", "PKG_CONFIG", "SSH_AUTH_SOCK",
	}
	toolPrefixes = []string{"CGO_", "XDG_", "GIT_"}
)

// serviceEnviron is the part of the server's environment a service sees.
func serviceEnviron() []string {
	return filterEnv(os.Environ(), serviceEnv, servicePrefixes)
}

// toolEnviron is the part of the server's environment go build and git see.
func toolEnviron() []string {
	return filterEnv(os.Environ(), append(serviceEnv, toolEnv...), append(servicePrefixes, toolPrefixes...))
}

func filterEnv(environ, names, prefixes []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if allowed(name, names, prefixes) {
			out = append(out, kv)
		}
	}
	return out
}

func allowed(name string, names, prefixes []string) bool {
	for _, n := range names {
		if name == n {
			return true
		}
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
