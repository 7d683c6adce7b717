package cli

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"

	microclient "micro.dev/micro/framework/client"
)

// serverKey names the server at proxy address addr in the tokens file, so
// that a login belongs to the server rather than to how its address was
// typed: the scheme goes, the host is lower case, the port is the one
// dialled (443 when none is given, as ParseTarget decides), and every
// spelling of this machine (localhost, 127.0.0.1, ::1, ":8081") is
// 127.0.0.1. Another host's name is kept as written: resolving it on every
// command would cost a lookup, and two names of one remote server are rare.
func serverKey(addr string) string {
	hostPort := addr
	if t, err := microclient.ParseTarget(addr, microclient.Security{}); err == nil {
		hostPort = t.Address
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return strings.ToLower(hostPort)
	}
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// parseTokenKey splits a tokens file key into the address, namespace and
// account id it was saved under. The address may hold "/" (a scheme); the
// namespace and id do not.
func parseTokenKey(key string) (addr, ns, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, "micro://")
	if !ok {
		return "", "", "", false
	}
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return "", "", "", false
	}
	rest, id = rest[:i], rest[i+1:]
	j := strings.LastIndex(rest, "/")
	if j < 0 {
		return "", "", "", false
	}
	return rest[:j], rest[j+1:], id, id != ""
}

// findLogin picks the tokens file line for the server at addr and
// namespace ns: user's when there is one (the env's current user), else
// the newest login to that server, whatever env it was made in. Lines
// saved under another spelling of the address (older CLIs kept the string
// as typed) count as the same server. It returns the line's key and
// account id, "" when there is none.
func findLogin(lines []tokenLine, addr, ns, user string) (key, id string) {
	server := serverKey(addr)
	var bestCreated int64
	bestIsUser := false
	for _, l := range lines {
		a, n, acc, ok := parseTokenKey(l.key)
		if !ok || n != ns || serverKey(a) != server {
			continue
		}
		var t savedToken
		b, err := base64.StdEncoding.DecodeString(l.value)
		if err != nil || json.Unmarshal(b, &t) != nil || t.AccessToken == "" {
			continue
		}
		isUser := user != "" && acc == user
		better := key == "" ||
			(isUser && !bestIsUser) ||
			(isUser == bestIsUser && (t.Created > bestCreated || (t.Created == bestCreated && a == server)))
		if better {
			key, id, bestCreated, bestIsUser = l.key, acc, t.Created, isUser
		}
	}
	return key, id
}
