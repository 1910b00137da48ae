package client

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Endpoint file names in the data directory (DESIGN §4).
const (
	AddrFile  = "rpc.addr"
	TokenFile = "rpc.token"
)

// ReadEndpoint reads the endpoint URL and token the daemon wrote to
// <dataDir>/rpc.addr and <dataDir>/rpc.token. A missing file yields an
// error wrapping ErrNotRunning that names the directory.
func ReadEndpoint(dataDir string) (rawURL, token string, err error) {
	rawURL, err = readTrimmed(dataDir, AddrFile)
	if err != nil {
		return "", "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("rpc: %s holds %q, not an http URL", filepath.Join(dataDir, AddrFile), rawURL)
	}
	token, err = readTrimmed(dataDir, TokenFile)
	if err != nil {
		return "", "", err
	}
	return rawURL, token, nil
}

func readTrimmed(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: no %s (start it with: parley daemon --data %s)", ErrNotRunning, p, dir)
	}
	if err != nil {
		return "", fmt.Errorf("rpc: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNotRunning, p)
	}
	return s, nil
}
