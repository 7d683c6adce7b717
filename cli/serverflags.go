package cli

import (
	"flag"
	"strings"
	"time"

	"micro.dev/micro/node"
)

// runtimeFlags are the server's flags about running services: who may, and
// how much of their logs is kept.
func runtimeFlags(fs *flag.FlagSet, cfg *node.Config) {
	fs.Var((*nameList)(&cfg.RuntimeNamespaces), "runtime-namespaces",
		"comma-separated `namespaces` whose own admins may run services (micro run), \"*\" for all; "+
			"by default only admins of micro may, since a service runs as the server's user and can read its data")
	cfg.RuntimeLogBytes = 4 << 20
	fs.Var((*sizeFlag)(&cfg.RuntimeLogBytes), "runtime-log-size",
		"`size` of the logs kept per service (such as 512KB, 4MB, 1GB); the oldest lines go first")
	fs.DurationVar(&cfg.RuntimeLogAge, "runtime-log-age", 7*24*time.Hour, "how long a service's log lines are kept")
}

// nameList is a comma-separated flag.
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
