package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Files and folders inside a data directory.
const (
	KeyFile       = "identity.key" // Ed25519 private key, libp2p protobuf or protected (keyfile.go), mode 0600
	ConfigFile    = "config.toml"
	DatastoreDir  = "datastore" // Pebble
	RPCAddrFile   = "rpc.addr"  // URL of the running daemon's RPC endpoint
	RPCTokenFile  = "rpc.token" // bearer token, mode 0600
	LockFile      = "lock"
	EnvDataDir    = "PARLEY_DATA"
	defaultSubdir = ".parley" // under the home directory on Linux and BSD
	appDirName    = "Parley"  // under the OS's application data folder
)

// ResolveDataDir returns the data directory: flag if set, else
// $PARLEY_DATA, else the platform's default (see DefaultDataDir).
func ResolveDataDir(flag string) (string, error) {
	home, _ := os.UserHomeDir() // "" is handled where it matters
	dir, err := resolveDataDir(flag, runtime.GOOS, os.Getenv, home)
	if err != nil {
		return "", err
	}
	return filepath.Abs(dir)
}

// resolveDataDir is ResolveDataDir as a pure function of the OS, the
// environment and the home directory, so that every OS's rule is tested on
// any of them.
func resolveDataDir(flag, goos string, getenv func(string) string, home string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := getenv(EnvDataDir); env != "" {
		return env, nil
	}
	return DefaultDataDir(goos, getenv, home)
}

// DefaultDataDir is where a node keeps its data when neither --data nor
// $PARLEY_DATA says otherwise: each desktop OS's conventional place for an
// application's own data, since a dot-directory in the home folder is a
// Unix habit that surprises macOS and Windows users.
//
//	windows  %LocalAppData%\Parley (else <home>\AppData\Local\Parley)
//	darwin   <home>/Library/Application Support/Parley
//	others   <home>/.parley
//
// On Windows it is the local, not the roaming, profile: the datastore is
// large and the identity must not be copied to a second machine. goos is a
// runtime.GOOS value and getenv reads the environment (os.Getenv).
func DefaultDataDir(goos string, getenv func(string) string, home string) (string, error) {
	if goos == "windows" {
		if d := getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, appDirName), nil
		}
	}
	if home == "" {
		return "", fmt.Errorf("no --data given, $%s unset and no home directory", EnvDataDir)
	}
	switch goos {
	case "windows":
		return filepath.Join(home, "AppData", "Local", appDirName), nil
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", appDirName), nil
	}
	return filepath.Join(home, defaultSubdir), nil
}

// Init creates dir (mode 0700), an identity and a commented default config
// if they do not exist yet. It never overwrites an existing identity or
// config, and is safe to run again. It makes the data dir private first
// (see secureDataDir), logging to slog.Default.
func Init(dir string) (created bool, err error) {
	return initDataDir(dir, slog.Default().With("subsystem", "node"))
}

// initDataDir is Init logging to log.
func initDataDir(dir string, log *slog.Logger) (created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := secureDataDir(dir, log); err != nil {
		return false, err
	}
	created, err = checkOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return false, err
	}
	cfg := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(cfg, []byte(defaultConfigFile), 0o600); err != nil {
			return false, fmt.Errorf("write %s: %w", cfg, err)
		}
	}
	return created, nil
}

// ErrNotPrivate is returned (wrapped, naming the path) when the data dir
// or a file in it is readable by other users and cannot be made private,
// for example because it belongs to another user.
var ErrNotPrivate = errors.New("data directory is not private")

// secureDataDir makes the data dir, its datastore directory and the
// files that hold secrets or endpoints private to this user (dirs 0700,
// files 0600), with a warning for each it had to tighten, and refuses one
// it cannot fix (ErrNotPrivate). Pebble creates its files 0644; the
// datastore directory at 0700 keeps other users out of them, as does
// the data dir itself. Mode bits are Unix only (datadir_perm_*.go).
func secureDataDir(dir string, log *slog.Logger) error {
	for _, p := range []string{
		dir,
		filepath.Join(dir, DatastoreDir),
		filepath.Join(dir, KeyFile),
		filepath.Join(dir, KeyringFile),
		filepath.Join(dir, RPCTokenFile),
		filepath.Join(dir, RPCAddrFile),
		filepath.Join(dir, ConfigFile),
	} {
		if err := makePrivate(p, log); err != nil {
			return err
		}
	}
	return nil
}

// ErrLocked is returned when another process holds the data dir.
var ErrLocked = errors.New("data directory is in use by another parley process")

// dirLock is an exclusive advisory lock on <data>/lock, held for the
// process's life so two daemons never share a data dir. The OS drops it if
// the process dies, so a crash never leaves a stale lock. lockFile and
// unlockFile are per OS (datadir_unix.go, datadir_windows.go).
type dirLock struct{ f *os.File }

// errLockHeld is returned by lockFile when another open file holds the lock.
var errLockHeld = errors.New("lock held")

func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLockHeld) {
			pid := strings.TrimSpace(string(b))
			return nil, fmt.Errorf("%w (%s, pid %s)", ErrLocked, dir, pid)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dirLock{f}, nil
}

func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	unlockFile(l.f)
	err := l.f.Close()
	l.f = nil
	return err
}

// loadOrCreateToken returns the RPC token in path, creating a random one
// (32 bytes, hex) with mode 0600 if the file is missing. Keeping the token
// across restarts lets apps keep working without re-reading it.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("rpc token %s is too short or empty: delete it to get a new one", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read rpc token %s: %w", path, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write rpc token %s: %w", path, err)
	}
	return tok, nil
}
