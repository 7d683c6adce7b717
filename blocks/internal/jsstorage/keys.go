package jsstorage

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Token encodes a user-given name as one key or subject token. NATS keys
// allow only [-/_=.A-Za-z0-9] and '.' separates tokens, while databases,
// tables, keys, namespaces and service names may hold any string;
// lowercase hex round-trips every string and keeps byte order, so keys
// sort as the names do. The leading '_' keeps the empty string a valid
// token.
func Token(s string) string { return "_" + hex.EncodeToString([]byte(s)) }

// Name decodes a Token.
func Name(tok string) (string, error) {
	if !strings.HasPrefix(tok, "_") {
		return "", fmt.Errorf("key token %q is not an encoded name", tok)
	}
	b, err := hex.DecodeString(tok[1:])
	if err != nil {
		return "", fmt.Errorf("key token %q: %w", tok, err)
	}
	return string(b), nil
}

// Key joins tokens into a key.
func Key(tokens ...string) string { return strings.Join(tokens, ".") }

// Subject is the stream subject of key in bucket.
func Subject(bucket, key string) string { return "$KV." + bucket + "." + key }
