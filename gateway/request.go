package gateway

import (
	"bytes"
	"encoding/json"
	stderrors "errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// call is one RPC the gateway makes for an HTTP request: everything the
// transport needs, decided before any routing or dialling. newCall builds it
// for every POST /{service}/{endpoint}, plain HTTP and websocket alike, so
// both follow the same rules. GET /events/{topic} (sse.go) is not such a
// call: it always makes the one call events.Stream/Consume, built there.
type call struct {
	Namespace string
	Service   string
	Endpoint  string // Handler.Method
	Method    string // gRPC full method: /service.Handler/Method
	Body      []byte // the request message, encoded for Subtype
	Subtype   string // gRPC content subtype: codec.JSON or codec.Proto
	// ContentType is the response's Content-Type.
	ContentType string
	// Metadata is the call's outgoing gRPC metadata, built here whole
	// (keys lower-case) so that it is handed on without a copy.
	Metadata grpcmd.MD
	// Version is the path's leading version segment ("v1" of /v1/foo/bar),
	// which MapPath made part of Service ("v1.foo"); empty when none.
	Version string
	// Timeout is the caller's Timeout header; 0 when it sent none.
	Timeout time.Duration
}

// newCall turns r into a call, or into the micro error (400, 413…) that
// answers it.
func (g *Gateway) newCall(r *http.Request) (*call, error) {
	service, endpoint, err := MapPath(r.URL.Path)
	if err != nil {
		return nil, err
	}
	noteCall(r, service, endpoint)
	c := &call{
		Service:  service,
		Endpoint: endpoint,
		Method:   client.FullMethod(service, endpoint),
	}
	if first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); versionRe.MatchString(first) && strings.HasPrefix(service, first+".") {
		c.Version = first
	}
	if c.Timeout, err = parseTimeout(r.Header.Get("Timeout")); err != nil {
		return nil, err
	}
	if c.Namespace, err = g.identify(r); err != nil {
		return nil, errors.FromError(err, apiID)
	}
	if info := InfoFrom(r.Context()); info != nil {
		info.Namespace = c.Namespace
	}
	if err := g.readBody(r, c); err != nil {
		return nil, err
	}
	c.Metadata = g.callMetadata(r, c.Namespace)
	return c, nil
}

// callMetadata is the metadata a call made for r carries: its headers, the
// namespace, the caller's credentials and the client's address.
func (g *Gateway) callMetadata(r *http.Request, namespace string) grpcmd.MD {
	md := headerMetadata(r.Header)
	md[metadata.Namespace] = []string{namespace}
	if authz := Authorization(r); authz != "" {
		md[metadata.Authorization] = []string{authz}
	}
	// Always overwritten: a header of that name is the client's claim; the
	// connection's address, or what a trusted proxy forwards, is the fact.
	md[metadata.ClientAddress] = []string{g.cfg.TrustedProxies.Of(r)}
	return md
}

// TokenCookie is the cookie a browser session keeps its access token in,
// as Micro's web UI did.
const TokenCookie = "micro-token"

// Authorization is the credential a request carries: its Authorization
// header, else "Bearer <token>" from the micro-token cookie, else "".
func Authorization(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		return v
	}
	// A cookie rides along on requests other sites' pages make; honour it
	// only from pages of this host (see cors).
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" && sameHost(r) {
		return "Bearer " + c.Value
	}
	return ""
}

// sameHost reports whether r comes from a page of the host it is addressed
// to (any port), or from no page at all (curl, a native client).
func sameHost(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	return strings.EqualFold(u.Hostname(), strings.Trim(host, "[]"))
}

// identify picks the call's namespace: Config.Identify when set (auth will
// derive it from the token's issuer), else the Micro-Namespace header, else
// the default namespace.
func (g *Gateway) identify(r *http.Request) (string, error) {
	if g.cfg.Identify != nil {
		ns, err := g.cfg.Identify(r)
		if err != nil {
			return "", err
		}
		if ns != "" {
			return ns, nil
		}
	}
	if ns := r.Header.Get("Micro-Namespace"); ns != "" {
		return ns, nil
	}
	return metadata.DefaultNamespace, nil
}

// parseTimeout reads the Timeout header: nanoseconds, as Micro sends it, or a
// Go duration ("5s") for people typing curl commands.
func parseTimeout(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Duration(n), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	return 0, badRequest("invalid Timeout header %q: want a positive number of nanoseconds", v)
}

// protoTypes are the content types whose bodies pass to the service as
// protobuf bytes, untouched, as Micro's gateway did.
var protoTypes = map[string]bool{
	"application/grpc":         true,
	"application/grpc+proto":   true,
	"application/proto":        true,
	"application/protobuf":     true,
	"application/x-protobuf":   true,
	"application/octet-stream": true,
}

// readBody sets c.Body, c.Subtype and c.ContentType from r's query and body.
func (g *Gateway) readBody(r *http.Request, c *call) error {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	c.Subtype, c.ContentType = codec.JSON, "application/json"

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// Only the query speaks for a GET, as in Micro; a body is ignored.
		q, err := DecodeQuery(r.URL.RawQuery)
		if err != nil {
			return err
		}
		c.Body, err = encodeJSON(q)
		return err
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return errors.MethodNotAllowed(apiID, "method %s not allowed", r.Method)
	}

	body, err := g.readAll(r)
	if err != nil {
		return err
	}
	if protoTypes[ct] {
		c.Subtype, c.ContentType, c.Body = codec.Proto, ct, body
		return nil
	}
	switch ct { // envelope.go
	case codec.ContentType(codec.ProtoRPC):
		c.Subtype, c.ContentType = codec.Proto, ct
		c.Body, err = unwrap(codec.ProtoRPC, body)
		return err
	case codec.ContentType(codec.JSONRPC):
		if body, err = unwrap(codec.JSONRPC, body); err != nil {
			return err
		}
		c.ContentType = ct
	}
	var obj map[string]any
	switch {
	case ct == "multipart/form-data":
		if obj, err = multipartObject(body, params["boundary"]); err != nil { // multipart.go
			return err
		}
	case ct == "application/x-www-form-urlencoded" && !looksLikeJSON(body):
		if obj, err = formObject(body); err != nil {
			return err
		}
	default:
		if err := checkObject(body); err != nil {
			// Anything else is JSON, as in Micro: clients often omit the type.
			return err
		}
	}

	if r.URL.RawQuery == "" {
		if obj != nil {
			c.Body, err = encodeJSON(obj)
			return err
		}
		// The common case: the body goes to the service as sent.
		c.Body = body
		if len(bytes.TrimSpace(body)) == 0 {
			c.Body = []byte("{}")
		}
		return nil
	}
	q, err := DecodeQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if obj == nil {
		if obj, err = decodeObject(body); err != nil {
			return err
		}
	}
	c.Body, err = encodeJSON(mergeUnder(q, obj))
	return err
}

// looksLikeJSON reports a body meant as JSON: one starting with '{' or '['.
// `curl -d '{"key":"k"}'` sends one labelled as a form (curl's default
// type); read as a form it would be one odd key, so it is read as JSON, and
// broken JSON is answered as such. A real form never starts so: browsers
// escape both characters.
func looksLikeJSON(body []byte) bool {
	t := bytes.TrimSpace(body)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// readAll reads r's body up to the configured limit.
func (g *Gateway) readAll(r *http.Request) ([]byte, error) {
	limit := g.cfg.MaxBodyBytes
	if r.Body == nil { // only hand-built requests; servers always set one
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if stderrors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, badRequest("reading request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int64) *errors.Error {
	return errors.TooLarge(apiID, "request body too large: the limit is %d bytes", limit)
}

// checkObject accepts an empty body or one JSON object, naming the problem
// otherwise so the caller can fix it.
func checkObject(body []byte) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil
	}
	if !json.Valid(t) {
		var v json.RawMessage
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if stderrors.As(err, &se) {
			return badRequest("invalid JSON body: %v at offset %d", se, se.Offset)
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if t[0] != '{' {
		return badRequest("invalid JSON body: want an object, got %s", jsonKind(t[0]))
	}
	return nil
}

// decodeObject decodes a body checkObject accepted, keeping numbers exact.
func decodeObject(body []byte) (map[string]any, error) {
	obj := map[string]any{}
	if len(bytes.TrimSpace(body)) == 0 {
		return obj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, badRequest("invalid JSON body: %v", err)
	}
	return obj, nil
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// formObject reads an urlencoded form as an object of strings, repeated
// fields comma-joined, as Micro did.
func formObject(body []byte) (map[string]any, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("invalid form body: %v", err)
	}
	obj := make(map[string]any, len(vals))
	for k, v := range vals {
		obj[k] = strings.Join(v, ",")
	}
	return obj, nil
}

// skipHeaders are not forwarded: hop-by-hop headers (RFC 9110 §7.6.1) and
// those describing this HTTP message rather than the call.
var skipHeaders = map[string]bool{
	"connection":          true,
	"keep-alive":          true,
	"proxy-authenticate":  true,
	"proxy-authorization": true,
	"proxy-connection":    true,
	"te":                  true,
	"trailer":             true,
	"transfer-encoding":   true,
	"upgrade":             true,
	"content-length":      true,
	"host":                true,
}

// headerMetadata forwards HTTP headers as gRPC metadata: keys lower-cased,
// repeated values comma-joined. Pairs gRPC would refuse (keys outside its
// alphabet, reserved "grpc-" keys, values with non-printable or non-ASCII
// bytes) are dropped, since one bad header must not fail the whole call.
func headerMetadata(h http.Header) grpcmd.MD {
	skip := map[string]bool{}
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			skip[strings.ToLower(textproto.TrimString(f))] = true
		}
	}
	md := make(grpcmd.MD, len(h)+3) // and callMetadata's three
	for k, vs := range h {
		k = strings.ToLower(k)
		if skipHeaders[k] || skip[k] || strings.HasPrefix(k, "grpc-") || !validKey(k) {
			continue
		}
		v := strings.Join(vs, ",")
		if !strings.HasSuffix(k, "-bin") && !validValue(v) {
			continue
		}
		md[k] = []string{v}
	}
	return md
}

// validKey is gRPC's metadata key alphabet.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validValue is gRPC's rule for non-binary values: printable ASCII.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
