package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Secrets are hashed with argon2id (RFC 9106), stored as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// argon2id rather than bcrypt: it is memory-hard (guessing on GPUs costs
// memory, not just time), has no 72-byte input limit (bcrypt silently
// truncates or, in x/crypto, refuses longer secrets), and its parameters
// travel with each hash, so they can be raised later without breaking
// stored secrets. The parameters are OWASP's minimum for argon2id: 19 MiB,
// two passes, one lane, about 30 ms on one core here.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashSlots bounds how many hashes run at once, so a burst of logins costs
// at most hashSlots × 19 MiB of memory rather than one allocation per
// request in flight.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// argonRuns counts argon2id computations, which the tests hold a restart
// to none of.
var argonRuns atomic.Int64

func argon(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonRuns.Add(1)
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(secret, salt, t, m, p, n)
}

// hashSecret returns the PHC string of secret under a fresh salt.
func hashSecret(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("not an argon2id hash")

// checkSecret reports whether secret hashes to encoded. A malformed encoded
// hash is an error (and never a match).
func checkSecret(encoded, secret string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon([]byte(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login names no account, so that an
// unknown account takes as long to refuse as a wrong secret. It is made on
// first use: every micro command links this package, and only the server
// needs it.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashSecret("no such account")
	if err != nil {
		panic(err) // only crypto/rand can fail, and it does not
	}
	return h
})

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
