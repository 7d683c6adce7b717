// Package gateway is micro's HTTP API (:8080): it maps POST /{service}/{endpoint}
// with a JSON body to a gRPC call and answers with the service's JSON, as
// Micro's API gateway did (path mapping, qson queries, CORS, micro errors,
// chunked streaming). Where a call goes is the Router's business; the
// gateway only speaks HTTP.
//
// One request, in order: CORS headers; OPTIONS answered 200; GET / (version
// and Config.Info), /favicon.ico and GET /health answered directly; anything
// else becomes a call (newCall: path -> service and endpoint, query and body
// -> one JSON object, headers -> metadata, namespace, timeout), is routed,
// and is made unary or streaming as the Route says.
//
// Where this gateway knowingly differs from Micro's, and why:
//
//   - Paths that cannot name a service (empty segments, "." or "..",
//     characters outside [A-Za-z0-9._-], a "." in a handler or method name)
//     are a 400; Micro cleaned them into some other call.
//   - An unknown endpoint of a known service is a 404: the Router's NotFound
//     passes through, and gRPC's own "unknown service/method" (Unimplemented)
//     is mapped to 404 as well. An unknown service keeps Micro's 500
//     "service not found" (ErrServiceNotFound).
//   - A body that is not one JSON object is a 400 naming the problem and its
//     offset, before any service sees it; the default body limit is 10 MiB
//     (Micro: 100 MiB), answered with a 413 micro error.
//   - Query keys that cannot be parsed (a[b, a]) are a 400 rather than
//     silently dropped or, in qson's case, a panic; a key that needs an
//     object where a value stood replaces it (qson panicked).
//   - Merging query under body keeps a body null instead of deleting the key
//     (a JSON merge patch would); protojson reads both as unset.
//   - Replies pass through as the service encoded them (Micro decoded and
//     re-encoded them with sorted keys).
//   - Streamed JSON messages end with a newline (JSON lines), an error after
//     the first message is written as the last line, and a stream has no
//     default deadline (only the Timeout header bounds it).
//   - Headers that gRPC would refuse as metadata (non-ASCII values, "grpc-"
//     keys, odd key characters) are dropped instead of failing the call;
//     Host, Content-Length and hop-by-hop headers are not forwarded.
//   - Auth is not checked here but by the proxy's interceptor, which every
//     call meets on its way in-process (as in Micro v4, where each service
//     checked): the gateway only passes the credential (Authorization
//     header, else the micro-token cookie as a Bearer token) and the
//     connection's address (micro-client-address, overwriting any header
//     of that name), and Config.Identify picks the namespace. Errors are
//     JSON 401/403 micro errors, not v3's plain-text ones.
//   - A body labelled application/x-www-form-urlencoded that is a JSON
//     object is read as JSON: that is what `curl -d '{"name":"John"}'`
//     sends, and what its user means.
//   - A versioned path (/v1/foo/bar) whose versioned service (v1.foo) is
//     not registered calls the service itself (foo), so micro-js-client's
//     /v1/{service}/{endpoint} calls work.
//   - Websocket streams end with a close code of 4000 + the HTTP code of
//     the error (after the error JSON as the last message); a websocket
//     upgrade to an endpoint that does not stream is a 400.
//   - A multipart/form-data body becomes one JSON object as in Micro
//     (fields as strings, repeated ones comma-joined; a file field as the
//     first file's bytes, base64 in JSON), within the body limit (Micro
//     allowed 10 MB of multipart); it is read in memory, never spilled to
//     temporary files, and the query merges under it as under a JSON body
//     (Micro dropped the query).
//   - application/json-rpc and application/proto-rpc request envelopes
//     are unwrapped (envelope.go); the reply goes back unwrapped with the
//     request's content type, as in Micro. Departure: Micro read
//     application/octet-stream as proto-rpc too; here it is raw protobuf,
//     as the other proto types.
package gateway
