package node_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/node"
)

// A node whose identity is protected starts only with its passphrase,
// keeps its peer ID, and a refused start changes nothing on disk.
func TestNodeUnlocksProtectedIdentity(t *testing.T) {
	dir := t.TempDir()
	fast := node.KDFParams{Time: 1, MemoryKiB: 256, Threads: 1}
	keys, res, err := node.InitProtected(dir, []byte("open sesame"), fast)
	if err != nil || res != node.KeyCreated {
		t.Fatalf("InitProtected: %v, %v", res, err)
	}
	want, _ := peerIDOf(keys.Identity)
	keyPath := filepath.Join(dir, node.KeyFile)
	sealed, _ := os.ReadFile(keyPath)

	for _, tc := range []struct {
		name string
		pass node.PassphraseFunc
		want error
	}{
		{"no passphrase", nil, node.ErrPassphraseRequired},
		{"wrong passphrase", func() ([]byte, error) { return []byte("open says me"), nil }, node.ErrWrongPassphrase},
	} {
		_, err := node.New(t.Context(), node.Options{DataDir: dir, Config: testConfig(), Passphrase: tc.pass})
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, sealed) {
			t.Fatalf("%s: the key file changed", tc.name)
		}
	}
	calls := 0
	n := startNode(t, dir, func(o *node.Options) {
		o.Passphrase = func() ([]byte, error) { calls++; return []byte("open sesame"), nil }
	})
	info, err := n.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.PeerID != want.String() || calls != 1 {
		t.Fatalf("peer ID %s after unlock (asked %d times), want %s asked once", info.PeerID, calls, want)
	}
}
