package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/blocks/store"
	"micro.dev/micro/node"
)

// runNode starts the server; tests replace it to see the Config built.
var runNode = node.Run

// serverCommand is `micro server`: the whole platform in this process.
// Every flag is also a MICRO_* variable (dashes become underscores:
// --gateway-address is MICRO_GATEWAY_ADDRESS) and a line of the --config
// file ("gateway-address :9080"); the command line wins, then the
// environment, then the file.
func (a *app) serverCommand() *ffcli.Command {
	const path = "micro server"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	var cfg node.Config
	fs.StringVar(&cfg.Data, "data", "./micro.db", "the SQLite `file` holding all state")
	fs.StringVar(&cfg.GatewayAddress, "gateway-address", ":8080", "HTTP API listen `address`; :0 picks a free port")
	fs.StringVar(&cfg.ProxyAddress, "proxy-address", ":8081", "gRPC proxy listen `address`, the CLI's door; :0 picks a free port")
	fs.StringVar(&cfg.DashboardAddress, "dashboard-address", ":8082", "web dashboard listen `address`; empty disables it")
	fs.StringVar(&cfg.AdminPassword, "admin-password", "", "password of the admin account (namespace micro), set at the first start; default \"micro\", with a warning")
	fs.StringVar(&cfg.ConfigSecretKey, "config-secret-key", "", "`base64` of the 32-byte key sealing config secrets; default a key kept in the database")
	fs.DurationVar(&cfg.EventsRetention, "events-retention", 24*time.Hour, "how long events are kept unless their topic says otherwise")
	fs.BoolVar(&cfg.MetricsPublic, "metrics-public", false, "serve GET /metrics on the gateway to anyone; by default it needs an admin token or --metrics-token")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", "", "a bearer `token` that may read GET /metrics, for a Prometheus scrape config")
	fs.StringVar(&cfg.BackupTo, "backup-to", "", "take scheduled backups to a `directory` or s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	fs.DurationVar(&cfg.BackupEvery, "backup-every", time.Hour, "time between scheduled backups (with --backup-to)")
	fs.IntVar(&cfg.BackupKeep, "backup-keep", 24, "how many scheduled backups to keep at --backup-to; 0 keeps all")
	fs.DurationVar(&cfg.Limits.ReadHeaderTimeout, "read-header-timeout", node.DefaultReadHeaderTimeout, "a request's headers (and a proxy connection's HTTP/2 start) must arrive within this")
	fs.DurationVar(&cfg.Limits.ReadTimeout, "read-timeout", node.DefaultReadTimeout, "a whole request, and a websocket's first message, must arrive within this")
	fs.DurationVar(&cfg.Limits.WriteTimeout, "write-timeout", node.DefaultWriteTimeout, "an answer, and each message of a stream, must be taken within this")
	fs.DurationVar(&cfg.Limits.IdleTimeout, "idle-timeout", node.DefaultIdleTimeout, "close keep-alive and proxy connections idle this long")
	fs.IntVar(&cfg.Limits.MaxConnsPerAddress, "max-conns-per-address", node.DefaultMaxConnsPerAddress, "connections one client IP may hold on each port; at the cap its longest-idle one is closed; -1 for no cap")
	fs.IntVar(&cfg.Limits.MaxStreamsPerConn, "max-streams-per-conn", node.DefaultMaxStreamsPerConn, "calls one proxy connection may have in progress; past it the client's further calls wait")
	cfg.MinFreeSpace = defaultMinFreeSpace
	fs.Var((*sizeFlag)(&cfg.MinFreeSpace), "min-free-space", "refuse writes (507) when the disk has less than this `size` free (64MB, 1GB; 0 for no minimum); deletes still run")
	fs.Var((*sizeFlag)(&cfg.MaxDBSize), "max-db-size", "refuse writes (507) once the database file reaches this `size` (0 for no cap)")
	cfg.MaxBlobSize = store.DefaultMaxBlobSize
	fs.Var((*sizeFlag)(&cfg.MaxBlobSize), "blob-max-size", "refuse blobs (413) larger than this `size` (micro blob put, store.DefaultBlobStore)")
	tlsFlags := serverTLSFlags(fs, &cfg) // server_tls.go
	runtimeFlags(fs, &cfg)               // serverflags.go
	serverTraceFlags(fs, &cfg)           // trace.go
	serverClusterFlags(fs, &cfg)         // cluster.go
	fs.String("config", "", "read flags from `file`, one \"name value\" per line")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")

	return &ffcli.Command{
		Name:       "server",
		ShortUsage: path + " [flags]",
		ShortHelp:  "Run the micro server: gateway, proxy, dashboard and every block, on one SQLite file",
		LongHelp: "Run the micro server: the HTTP API gateway, the gRPC proxy, the dashboard and every block\n" +
			"(auth, broker, config, events, registry, runtime, store, sync) in this process, with all state in\n" +
			"one SQLite file. Each flag is also a MICRO_* environment variable: --data is MICRO_DATA,\n" +
			"--gateway-address is MICRO_GATEWAY_ADDRESS and so on.",
		FlagSet: fs,
		Options: []ff.Option{
			ff.WithEnvVarPrefix("MICRO"),
			ff.WithConfigFileFlag("config"),
			ff.WithConfigFileParser(ff.PlainParser),
		},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			logger, err := newLogger(a, *logLevel, *logFormat)
			if err != nil {
				return usageErrorf(path, "%v", err)
			}
			if err := tlsFlags.apply(fs, &cfg); err != nil {
				return usageErrorf(path, "%v", err)
			}
			if cfg.Cluster.Listen != "" {
				cfg.Cluster.Data = cfg.Data
				if err := cfg.Cluster.Validate(); err != nil {
					return usageErrorf(path, "%v", err)
				}
			}
			cfg.Version = Version
			cfg.Logger = logger
			cfg.PaceGC = true // the server is this process's only work
			if err := runNode(ctx, cfg); err != nil {
				// One line, whatever the error holds, so it reads well in
				// journald and docker logs.
				return exitf(exitFailure, "micro server: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			return nil
		},
	}
}

// newLogger builds the server's logger on stderr from --log-level and
// --log-format.
func newLogger(a *app, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// defaultMinFreeSpace leaves room on the disk for deletes, the WAL's
// checkpoint and the rest of the machine.
const defaultMinFreeSpace = 64 << 20

// sizeFlag is a flag of bytes, with an optional unit: 512, 64KB, 64MB,
// 1GB (powers of 1024; KiB, MiB, GiB are the same).
type sizeFlag int64

func (b *sizeFlag) String() string {
	if b == nil {
		return "0"
	}
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *sizeFlag) Set(s string) error {
	num := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("want a size such as 64MB or 1GB, not %q", s)
	}
	*b = sizeFlag(n * mult)
	return nil
}
