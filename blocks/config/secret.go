package config

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SecretKeySize is the size of the key that seals secrets: AES-256.
const SecretKeySize = 32

// ParseSecretKey decodes a key given as text (MICRO_CONFIG_SECRET_KEY):
// base64, standard or URL alphabet, padded or not, of exactly 32 bytes.
func ParseSecretKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(key) != SecretKeySize {
			return nil, fmt.Errorf("config secret key is %d bytes; it must be %d (generate one with: head -c 32 /dev/urandom | base64)", len(key), SecretKeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("config secret key is not base64; generate one with: head -c 32 /dev/urandom | base64")
}

// sealer encrypts and decrypts secret leaves with AES-256-GCM. The
// namespace and path are the additional data, so a sealed value copied to
// another path does not open.
type sealer struct {
	aead cipher.AEAD
	id   string
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, id: keyID(key)}, nil
}

// keyID names a key without revealing it: the first 4 bytes of its SHA-256.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

func additionalData(ns, path string) []byte {
	return []byte(ns + "\x00" + path)
}

// seal returns base64(nonce || ciphertext) of plaintext.
func (s *sealer) seal(ns, path, plaintext string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), additionalData(ns, path))
	return base64.StdEncoding.EncodeToString(out), nil
}

// open reverses seal.
func (s *sealer) open(ns, path, sealed, keyID string) (string, error) {
	if keyID != "" && keyID != s.id {
		return "", fmt.Errorf("secret %s was sealed with key %s but the server has key %s; start the server with the key it was set with (MICRO_CONFIG_SECRET_KEY)", path, keyID, s.id)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("secret %s is corrupt", path)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], additionalData(ns, path))
	if err != nil {
		return "", fmt.Errorf("secret %s does not open with key %s: it was sealed with another key or altered", path, s.id)
	}
	return string(plain), nil
}
