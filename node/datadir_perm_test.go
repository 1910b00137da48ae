//go:build unix

package node

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer a logger may write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// A fresh node's data dir, datastore dir and every file it writes are
// private to the user.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	off := false
	n, err := New(t.Context(), Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler),
		Config: Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, RPC: "127.0.0.1:0", MDNS: &off, NATPortMap: &off, LogLevel: "warn"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for name, want := range map[string]os.FileMode{
		"":           0o700,
		DatastoreDir: 0o700,
		KeyFile:      0o600,
		RPCTokenFile: 0o600,
		RPCAddrFile:  0o600,
		ConfigFile:   0o600,
		LockFile:     0o600,
	} {
		if got := modeOf(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: mode %04o, want %04o", name, got, want)
		}
	}
}

// A data dir left readable by others (as earlier versions or a careless
// copy leave it) is tightened with a warning per entry; one that belongs
// to someone else is refused, untouched.
func TestLooseDataDirTightened(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, DatastoreDir)
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	sst := filepath.Join(store, "000001.sst")
	loose := map[string]os.FileMode{
		dir:                              0o755,
		store:                            0o755,
		sst:                              0o644, // Pebble's mode; the directory shields it
		filepath.Join(dir, KeyFile):      0o644,
		filepath.Join(dir, RPCTokenFile): 0o640,
		filepath.Join(dir, ConfigFile):   0o644,
		filepath.Join(dir, KeyringFile):  0o644,
	}
	if err := os.WriteFile(filepath.Join(dir, RPCTokenFile), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyringFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sst, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, m := range loose {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}

	var logs syncBuffer
	if _, err := initDataDir(dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	for p, m := range loose {
		want := m &^ 0o077
		if p == sst {
			want = m // left as Pebble made it, behind a 0700 directory
		}
		if got := modeOf(t, p); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
		if p != sst && !strings.Contains(logs.String(), "path="+p+" ") {
			t.Errorf("no warning for %s", p)
		}
	}
	if c := strings.Count(logs.String(), "level=WARN"); c != len(loose)-1 {
		t.Errorf("%d warnings, want %d:\n%s", c, len(loose)-1, logs.String())
	}
	// Once private, a restart is quiet.
	logs = syncBuffer{}
	if _, err := initDataDir(dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || logs.String() != "" {
		t.Errorf("second start: %v, logged %q", err, logs.String())
	}

	// Another user's key, readable by others: refused and left alone.
	key := filepath.Join(dir, KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	uid := getuid()
	getuid = func() int { return uid + 1 }
	t.Cleanup(func() { getuid = os.Getuid })
	_, err := initDataDir(dir, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), key) {
		t.Fatalf("got %v, want ErrNotPrivate naming %s", err, key)
	}
	if got := modeOf(t, key); got != 0o644 {
		t.Errorf("refused key changed to %04o", got)
	}
}
