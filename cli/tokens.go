package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/tracing"
	authpb "micro.dev/micro/proto/auth"
)

// The tokens file holds one line per login:
//
//	micro://<server>/<namespace>/<account id>:<base64(JSON token)>
//
// where <server> is the proxy's address as serverKey spells it; lines under
// other spellings (older CLIs) are read as the same server's.
//
// The JSON is {"access_token","refresh_token","created","expiry"}, times in
// unix seconds. The key may contain ":"; the value is after the last one.
// config.json's "<env>.current-user" names the account whose line a command
// uses. Lines micro does not understand are kept as they are.
//
// The file's path is stateFiles.tokens; its lock is beside it.
const (
	// refreshBefore is how close to its expiry a token is refreshed.
	refreshBefore = time.Minute
)

// savedToken is a login as the tokens file keeps it.
type savedToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Created      int64  `json:"created"`
	Expiry       int64  `json:"expiry"`
}

func fromProtoToken(t *authpb.Token) savedToken {
	return savedToken{AccessToken: t.GetAccessToken(), RefreshToken: t.GetRefreshToken(), Created: t.GetCreated(), Expiry: t.GetExpiry()}
}

// tokenKey is the key of a login to the proxy at addr, in namespace ns, as
// account id; the address as serverKey spells it.
func tokenKey(addr, ns, id string) string { return "micro://" + serverKey(addr) + "/" + ns + "/" + id }

// tokenLine is one line of the tokens file.
type tokenLine struct {
	key, value string // value: the raw base64 text
}

func readTokens(path string) ([]tokenLine, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []tokenLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		i := strings.LastIndex(line, ":")
		if i < 0 {
			lines = append(lines, tokenLine{key: line})
			continue
		}
		lines = append(lines, tokenLine{key: line[:i], value: line[i+1:]})
	}
	return lines, sc.Err()
}

// loadToken returns the login saved under key.
func loadToken(path, key string) (savedToken, bool, error) {
	lines, err := readTokens(path)
	if err != nil {
		return savedToken{}, false, err
	}
	for _, l := range lines {
		if l.key != key {
			continue
		}
		var t savedToken
		b, err := base64.StdEncoding.DecodeString(l.value)
		if err != nil || json.Unmarshal(b, &t) != nil || t.AccessToken == "" {
			return savedToken{}, false, nil // unreadable: as if logged out
		}
		return t, true, nil
	}
	return savedToken{}, false, nil
}

// updateTokens rewrites the tokens file under its lock: key gets t, or is
// removed when t is nil. The file is replaced atomically and kept 0600.
func updateTokens(path, key string, t *savedToken) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	unlock, err := lockConfig(path + lockSuffix)
	if err != nil {
		return err
	}
	defer unlock()
	return writeTokenLocked(path, key, t)
}

func writeTokenLocked(path, key string, t *savedToken) error {
	lines, err := readTokens(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	written := false
	put := func() {
		b, _ := json.Marshal(t) // plain strings and numbers always encode
		buf.WriteString(key + ":" + base64.StdEncoding.EncodeToString(b) + "\n")
		written = true
	}
	for _, l := range lines {
		if l.key == key {
			if t != nil && !written {
				put()
			}
			continue
		}
		buf.WriteString(l.key)
		if l.value != "" {
			buf.WriteString(":" + l.value)
		}
		buf.WriteString("\n")
	}
	if t != nil && !written {
		put()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// session is who the CLI is logged in as for a target.
type session struct {
	tokens string // the tokens file
	env    string
	user   string // account id; "" when not logged in
	key    string
}

// session finds the login for target t: the tokens file's line for t's
// server (however its address is spelled, serverkey.go) and namespace,
// config.json's current user of the env if it has one there, else the
// newest login to that server, so MICRO_PROXY=host:port works with any env
// selected.
func (a *app) session(t *target) (*session, error) {
	files, err := a.files()
	if err != nil {
		return nil, err
	}
	c, err := loadConfig(files.config)
	if err != nil {
		return nil, err
	}
	lines, err := readTokens(files.tokens)
	if err != nil {
		return nil, err
	}
	s := &session{tokens: files.tokens, env: t.Env.Name}
	s.key, s.user = findLogin(lines, t.Address, t.Namespace, c.String(t.Env.Name+".current-user"))
	return s, nil
}

// token returns the session's access token, refreshed first when it expires
// within refreshBefore (the refresh token rotates, so this happens under the
// tokens lock and re-reads the file: two commands at once refresh once).
// "" means not logged in.
func (s *session) token(ctx context.Context, cl *client) (string, error) {
	if s.key == "" {
		return "", nil
	}
	tok, ok, err := loadToken(s.tokens, s.key)
	if err != nil || !ok {
		return "", err
	}
	if time.Until(time.Unix(tok.Expiry, 0)) > refreshBefore {
		return tok.AccessToken, nil
	}
	unlock, err := lockConfig(s.tokens + lockSuffix)
	if err != nil {
		return "", err
	}
	defer unlock()
	if tok, ok, err = loadToken(s.tokens, s.key); err != nil || !ok {
		return "", err
	}
	left := time.Until(time.Unix(tok.Expiry, 0))
	if left > refreshBefore {
		return tok.AccessToken, nil
	}
	ctx = metadata.NewContext(ctx, metadata.Metadata{metadata.Namespace: cl.target.Namespace})
	// The CLI's plumbing, not the user's call: unsampled, as the framework's
	// own token exchanges are, so each command near expiry makes no trace.
	ctx = tracing.Outgoing(tracing.Unsampled(ctx))
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rsp, err := authpb.NewAuthClient(cl.conn).Token(ctx, &authpb.TokenRequest{
		RefreshToken: tok.RefreshToken, Options: &authpb.Options{Namespace: cl.target.Namespace},
	})
	if err != nil {
		if left > 0 {
			return tok.AccessToken, nil // still valid a little longer
		}
		if merrors.Code(err) == 401 {
			return "", exitf(exitUnauthorized, "Your login has expired. Run 'micro login' to log in again")
		}
		return "", cl.err(err)
	}
	fresh := fromProtoToken(rsp.GetToken())
	if err := writeTokenLocked(s.tokens, s.key, &fresh); err != nil {
		return "", err
	}
	return fresh.AccessToken, nil
}

// claimsOf reads the claims of a JWT without checking its signature: the
// CLI only shows what it holds; the server checks.
func claimsOf(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c
}
