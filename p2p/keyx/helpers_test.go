package keyx

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testMaxSize is the MaxSize of the tests: node's (e2ee.MaxBundleSize),
// which the fuzz seeds were written for.
const testMaxSize = 2048

// newHost starts a real libp2p host on 127.0.0.1 with identity key (a
// fresh one if nil), closed when the test ends.
func newHost(t testing.TB, key crypto.PrivKey) host.Host {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The tests' bundle format, which keyx knows nothing of, as it knows
// nothing of node's: "<peer ID>|<payload>".
var errNotTestBundle = errors.New("not a test bundle")

func testBundle(p peer.ID, payload string) []byte {
	return []byte(p.String() + "|" + payload)
}

// testVerify is the tests' Config.Verify: the bundle must be of p.
func testVerify(p peer.ID, raw []byte) error {
	id, _, ok := bytes.Cut(raw, []byte("|"))
	if !ok {
		return errNotTestBundle
	}
	if string(id) != p.String() {
		return fmt.Errorf("%w: %s served %q's", ErrWrongPeer, p, id)
	}
	return nil
}

// testConfig is DefaultConfig with the tests' bundles.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MaxSize = testMaxSize
	cfg.Verify = testVerify
	return cfg
}

func connectHosts(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(t.Context(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}
