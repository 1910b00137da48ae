package node_test

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/p2p/keyx"
)

// rawHost is an attacker's plain libp2p host on 127.0.0.1.
func rawHost(t *testing.T, key crypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func genKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a bundle of key's peer with seq, created at created and
// valid for life.
func sign(t *testing.T, key crypto.PrivKey, seq uint64, created time.Time, life time.Duration) *e2ee.SignedBundle {
	t.Helper()
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	s, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: seq, Created: created, Expires: created.Add(life)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forge returns an envelope of a bundle naming victim, signed by signer.
func forge(t *testing.T, signer crypto.PrivKey, victim peer.ID, seq uint64) []byte {
	t.Helper()
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	env, err := record.Seal(&e2ee.Bundle{Peer: victim, Suite: e2ee.Suite, PublicKey: kp.PublicKey(), Seq: seq, Created: now, Expires: now.Add(time.Hour)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// reply is a keyx reply carrying raw (the wire format of keyx/wire.go,
// written out so the attacker does not borrow the code under test).
func reply(raw []byte) []byte {
	b := []byte{1, 0}
	n := uint64(len(raw))
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), raw...)
}

// A hostile peer on the keys protocol serves, after one honest bundle
// (seq 2), an older seq, another bundle with the same seq, an expired
// one, one signed by another key, another peer's and an oversized reply:
// each lookup fails with its own error and the book keeps seq 2.
func TestHostileKeysPeer(t *testing.T) {
	v := startNode(t, "")
	mKey := genKey(t)
	m := rawHost(t, mKey)
	serve := func(b []byte) {
		m.SetStreamHandler(keyx.ProtocolID, func(s network.Stream) {
			var req [1]byte
			s.Read(req[:])
			s.Write(b)
			s.Close()
		})
	}
	honest := sign(t, mKey, 2, time.Now(), time.Hour)
	serve(reply(honest.Raw()))
	if err := m.Connect(t.Context(), addrInfo(t, v)); err != nil {
		t.Fatal(err)
	}
	if s, err := v.RefreshBundle(t.Context(), m.ID()); err != nil || s.Hash() != honest.Hash() {
		t.Fatalf("honest bundle: %v", err)
	}
	cases := []struct {
		name  string
		reply []byte
		want  error
	}{
		{"rollback", reply(sign(t, mKey, 1, time.Now(), time.Hour).Raw()), e2ee.ErrRollback},
		{"same seq, other key", reply(sign(t, mKey, 2, time.Now(), time.Hour).Raw()), e2ee.ErrRollback},
		{"expired", reply(sign(t, mKey, 3, time.Now().Add(-2*time.Hour), time.Hour).Raw()), e2ee.ErrExpired},
		{"signed by another key", reply(forge(t, genKey(t), m.ID(), 4)), e2ee.ErrBadSignature},
		{"another peer's bundle", reply(sign(t, genKey(t), 5, time.Now(), time.Hour).Raw()), keyx.ErrWrongPeer},
		{"oversized", append(reply(honest.Raw()), make([]byte, 1<<20)...), keyx.ErrTooLarge},
		{"garbage", []byte("\x01\x00\x05hello"), e2ee.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			serve(c.reply)
			_, err := v.RefreshBundle(t.Context(), m.ID())
			if !errors.Is(err, c.want) {
				t.Fatalf("lookup: %v, want %v", err, c.want)
			}
			if s, err := v.BookedBundle(m.ID()); err != nil || s.Hash() != honest.Hash() {
				t.Fatalf("book changed: %v", err)
			}
		})
	}
}

// permissive is a DHT validator that accepts anything: the hostile DHT
// node's, so it stores and serves what honest nodes refuse.
type permissive struct{}

func (permissive) Validate(string, []byte) error        { return nil }
func (permissive) Select(string, [][]byte) (int, error) { return 0, nil }

// A hostile DHT node serves A's bundles to C, which holds A's seq 2
// already: the older seq 1 (validly signed: the rollback a malicious DHT
// node would try with a leaked key) is refused by C's book with
// ErrRollback; an expired one and one signed by another key are dropped
// by C's DHT validator, so the lookup finds nothing valid. C's book keeps
// seq 2 throughout, and C never talks to A during the attack.
func TestHostileDHTPeer(t *testing.T) {
	dirA := t.TempDir()
	a, c := startNode(t, dirA), startNode(t, "")
	aID := a.P2P().Self()
	aKey, _, err := node.LoadOrCreateKey(filepath.Join(dirA, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	old := a.OwnBundle()
	cur, err := a.RotateBundle()
	if err != nil {
		t.Fatal(err)
	}
	connect(t, c, a)
	testwait.For(t, 10*time.Second, "C books A's seq 2", func() bool {
		s, err := c.BookedBundle(aID)
		return err == nil && s.Hash() == cur.Hash()
	})
	if err := c.P2P().Host().Network().ClosePeer(aID); err != nil {
		t.Fatal(err)
	}

	h := rawHost(t, genKey(t))
	d, err := dht.New(h, dht.ProtocolPrefix(p2p.DHTProtocolPrefix), dht.Mode(dht.ModeServer), dht.Validator(permissive{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	store := func(value []byte) {
		// Stored locally first; there is no one to push it to.
		_ = d.PutValue(t.Context(), e2ee.BundleKey(aID), value)
		if got, err := d.GetValue(t.Context(), e2ee.BundleKey(aID)); err != nil || string(got) != string(value) {
			t.Fatalf("hostile node did not store the record: %v", err)
		}
	}
	if err := c.P2P().Host().Connect(t.Context(), peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "C routes DHT queries to the hostile node", func() bool {
		return c.P2P().DHT().RoutingTable().Find(h.ID()) != ""
	})

	cases := []struct {
		name  string
		value []byte
		want  error
	}{
		{"rollback", old.Raw(), e2ee.ErrRollback},
		{"expired", sign(t, aKey, 9, time.Now().Add(-2*time.Hour), time.Hour).Raw(), routing.ErrNotFound},
		{"signed by another key", forge(t, genKey(t), aID, 9), routing.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store(tc.value)
			if c.P2P().Host().Network().Connectedness(aID) == network.Connected {
				t.Fatal("C is connected to A: the lookup would not use the DHT")
			}
			_, err := c.RefreshBundle(t.Context(), aID)
			if !errors.Is(err, tc.want) {
				t.Fatalf("lookup: %v, want %v", err, tc.want)
			}
			if s, err := c.BookedBundle(aID); err != nil || s.Hash() != cur.Hash() {
				t.Fatalf("book changed: %v", err)
			}
		})
	}
}

// A peer that serves, on connect, another peer's validly signed bundle
// (replayed to pass it off as its own) gets nothing booked: node's keyx
// Verify refuses a bundle that does not name the peer serving it. An
// honest peer connecting afterwards is booked, so the fetch path ran.
func TestHostileKeysPeerOnConnect(t *testing.T) {
	v := startNode(t, "")
	yKey := genKey(t)
	yID, _ := peer.IDFromPrivateKey(yKey)
	replayed := sign(t, yKey, 1, time.Now(), time.Hour)
	m := rawHost(t, genKey(t))
	var served atomic.Bool
	m.SetStreamHandler(keyx.ProtocolID, func(s network.Stream) {
		var req [1]byte
		s.Read(req[:])
		s.Write(reply(replayed.Raw()))
		s.Close()
		served.Store(true)
	})
	if err := m.Connect(t.Context(), addrInfo(t, v)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the victim fetches from the attacker", served.Load)

	honest := startNode(t, "")
	connect(t, honest, v)
	testwait.For(t, 10*time.Second, "the honest peer booked", func() bool {
		_, err := v.BookedBundle(honest.P2P().Self())
		return err == nil
	})
	for _, id := range []peer.ID{yID, m.ID()} {
		if _, err := v.BookedBundle(id); !errors.Is(err, e2ee.ErrNoBundle) {
			t.Fatalf("booked for %s: %v, want ErrNoBundle", id, err)
		}
	}
}
