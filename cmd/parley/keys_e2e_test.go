package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// peerIDLine finds the peer ID init prints.
var peerIDLine = regexp.MustCompile(`peer ID (\S+)`)

func initPeerID(t *testing.T, out string) string {
	t.Helper()
	m := peerIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no peer ID in init's output:\n%s", out)
	}
	return m[1]
}

func writePassFile(t *testing.T, pass string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(f, []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func daemonPeerID(t *testing.T, dir string) string {
	t.Helper()
	var info struct {
		PeerID string `json:"peerId"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", dir, "id", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	return info.PeerID
}

// The real binary: init --passphrase with the passphrase in a file, the
// daemon unlocks with it under the same peer ID; a wrong passphrase file
// or none at all stops it with exit status 4, a clear message and the
// key file untouched.
func TestPassphraseE2E(t *testing.T) {
	dir := t.TempDir()
	right := []string{"PARLEY_PASSPHRASE_FILE=" + writePassFile(t, "a long and winding road\n")}
	out, errOut, code := runCLIEnv(t, right, "--data", dir, "init", "--passphrase")
	if code != 0 {
		t.Fatalf("init --passphrase: exit %d\n%s", code, errOut)
	}
	id := initPeerID(t, out)
	keyPath := filepath.Join(dir, "identity.key")
	sealed, _ := os.ReadFile(keyPath)
	if !bytes.HasPrefix(sealed, []byte("PARLEYKEY")) {
		t.Fatalf("identity.key is not protected: %x", sealed[:min(16, len(sealed))])
	}

	d := startProcessEnv(t, right, "daemon", dir)
	if got := daemonPeerID(t, dir); got != id {
		t.Fatalf("daemon peer ID %s, init said %s", got, id)
	}
	if strings.Contains(d.out.String(), "a long and winding road") {
		t.Fatal("the daemon printed the passphrase")
	}
	d.stop(t)

	daemonArgs := []string{"--data", dir, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc", "127.0.0.1:0", "--no-mdns", "--no-nat-portmap"}
	wrongFile := writePassFile(t, "a short road\n")
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"wrong passphrase", []string{"PARLEY_PASSPHRASE_FILE=" + wrongFile}, "wrong passphrase for the identity key"},
		{"no passphrase", []string{"PARLEY_PASSPHRASE_FILE="}, "protected by a passphrase and none was given"},
		{"empty passphrase file", []string{"PARLEY_PASSPHRASE_FILE=" + writePassFile(t, "\n")}, "empty passphrase"},
	} {
		_, errOut, code := runCLIEnv(t, tc.env, daemonArgs...)
		if code != exitLocked || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, errOut, exitLocked, tc.want)
		}
		if tc.name == "wrong passphrase" && !strings.Contains(errOut, wrongFile) {
			t.Errorf("wrong passphrase: stderr %q does not name the file it read", errOut)
		}
		if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, sealed) {
			t.Fatalf("%s: identity.key changed", tc.name)
		}
	}
}

// An unprotected data dir is protected later in place, keeping its peer
// ID; after that, init with another passphrase is refused and plain init
// leaves the protected key alone.
func TestPassphraseConvertE2E(t *testing.T) {
	dir := t.TempDir()
	id := initPeerID(t, mustCLI(t, "--data", dir, "init"))
	env := []string{"PARLEY_PASSPHRASE_FILE=" + writePassFile(t, "first passphrase")}
	out, errOut, code := runCLIEnv(t, env, "--data", dir, "init", "--passphrase")
	if code != 0 || initPeerID(t, out) != id || !strings.Contains(out, "now protected") {
		t.Fatalf("convert: exit %d, peer ID changed or not converted\n%s%s", code, out, errOut)
	}
	keyPath := filepath.Join(dir, "identity.key")
	sealed, _ := os.ReadFile(keyPath)

	other := []string{"PARLEY_PASSPHRASE_FILE=" + writePassFile(t, "second passphrase")}
	_, errOut, code = runCLIEnv(t, other, "--data", dir, "init", "--passphrase")
	if code != exitLocked || !strings.Contains(errOut, "wrong passphrase") {
		t.Fatalf("re-protect with another passphrase: exit %d, %q", code, errOut)
	}
	if out := mustCLI(t, "--data", dir, "init"); !strings.Contains(out, "protected by a passphrase") {
		t.Fatalf("plain init on a protected dir: %q", out)
	}
	if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, sealed) {
		t.Fatal("the protected key changed")
	}
	// The systemd credential, found through $CREDENTIALS_DIRECTORY.
	creds := t.TempDir()
	os.WriteFile(filepath.Join(creds, "parley-passphrase"), []byte("first passphrase"), 0o600)
	out, errOut, code = runCLIEnv(t, []string{"PARLEY_PASSPHRASE_FILE=", "CREDENTIALS_DIRECTORY=" + creds}, "--data", dir, "init", "--passphrase")
	if code != 0 || !strings.Contains(out, "already protected") {
		t.Fatalf("init --passphrase from a systemd credential: exit %d\n%s%s", code, out, errOut)
	}
	startProcessEnv(t, env, "daemon", dir)
	if got := daemonPeerID(t, dir); got != id {
		t.Fatalf("daemon peer ID %s after conversion, want %s", got, id)
	}
}

// The variable naming the passphrase file is gone from the environment
// once read, so child processes never see it; the systemd credential is
// the fallback.
func TestPassphraseSourceUnsetsEnv(t *testing.T) {
	f := writePassFile(t, "pw\r\n")
	t.Setenv(envPassphraseFile, f)
	var warn bytes.Buffer
	src := takePassphraseSource(&warn)
	if _, ok := os.LookupEnv(envPassphraseFile); ok {
		t.Fatalf("%s still set", envPassphraseFile)
	}
	p, err := src.read(t.Context(), true)
	if err != nil || string(p) != "pw" || src.file != f {
		t.Fatalf("read %q, %v from %s", p, err, src)
	}

	creds := t.TempDir()
	os.WriteFile(filepath.Join(creds, credentialName), []byte("from systemd"), 0o644)
	t.Setenv(envCredentialsDir, creds)
	src = takePassphraseSource(&warn)
	p, err = src.read(t.Context(), false)
	if err != nil || string(p) != "from systemd" {
		t.Fatalf("credential: %q, %v", p, err)
	}
	if !strings.Contains(warn.String(), "readable by other users") {
		t.Fatalf("no warning for a 0644 passphrase file: %q", warn.String())
	}
}
