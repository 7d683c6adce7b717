// Package bench measures micro against the peers a user would otherwise
// reach for, each in the same run on the same machine: direct gRPC to a
// service, a minimal net/http server on SQLite (the same pragmas, one
// transaction per write and a batched variant), and NATS JetStream
// embedded (file storage, sync publish, a durable pull consumer with
// acks). It is its own module so that micro does not depend on its peers.
//
// `make bench-peers` runs the benchmarks and prints one table of ratios
// (cmd/benchtable); the README's benchmark section shows the latest.
package bench
