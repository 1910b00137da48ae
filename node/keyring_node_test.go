package node_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/node"
)

// A real node writes its keyring sealed; protecting the identity later
// keeps the data key, so the keyring still opens after the unlock, with
// the same bundle and its key pair; a seal made to that bundle before
// opens after.
func TestNodeKeyringSurvivesProtect(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	own := n.OwnBundle()
	if own == nil {
		t.Fatal("no bundle")
	}
	ep := e2ee.Epoch{Room: "r", ID: []byte("e")}
	secret := e2ee.NewEpochSecret()
	sealed, err := e2ee.SealEpochSecret(own, ep, bytes.Clone(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, node.KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(file, []byte(`{"version":2,`)) || bytes.Contains(file, []byte(`"seed"`)) {
		t.Fatalf("keyring not sealed: %.40s…", file)
	}

	pass := []byte("open sesame")
	if _, res, err := node.InitProtected(dir, pass, node.KDFParams{Time: 1, MemoryKiB: 256, Threads: 1}); err != nil || res != node.KeyConverted {
		t.Fatalf("protect: %v, %v", res, err)
	}
	n2 := startNode(t, dir, func(o *node.Options) {
		o.Passphrase = func() ([]byte, error) { return bytes.Clone(pass), nil }
	})
	if got := n2.OwnBundle(); got == nil || got.Hash() != own.Hash() {
		t.Fatal("another bundle after protecting the identity")
	}
	kp, b, err := n2.OwnKeyPair(own.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e2ee.OpenEpochSecret(kp, b, ep, sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("seal made before protecting: %v", err)
	}
}

// A keyring sealed under another node's data key (copied in by an
// attacker or by mistake) stops the start with ErrBadKeyring naming the
// file, and stays as it was.
func TestNodeRefusesForeignKeyring(t *testing.T) {
	other := t.TempDir()
	startNode(t, other).Close()
	dir := t.TempDir()
	startNode(t, dir).Close()
	foreign, err := os.ReadFile(filepath.Join(other, node.KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, node.KeyringFile)
	if err := os.WriteFile(path, foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = node.New(t.Context(), node.Options{DataDir: dir, Config: testConfig()})
	if !errors.Is(err, node.ErrBadKeyring) || !strings.Contains(err.Error(), path) {
		t.Fatalf("start: %v, want ErrBadKeyring naming %s", err, path)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, foreign) {
		t.Fatal("refused keyring was rewritten")
	}
}
