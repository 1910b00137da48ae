package chat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// keyDir is the bundles every test peer can fetch, as node's key-bundle
// exchange would deliver them.
type keyDir struct {
	mu sync.Mutex
	m  map[peer.ID]*e2ee.SignedBundle
}

// testKeys is a Keys of one peer: a real KEM key pair, bundle and data key.
type testKeys struct {
	dir  *keyDir
	kp   *e2ee.KeyPair
	own  *e2ee.SignedBundle
	data []byte
}

func (k *testKeys) OwnBundle() *e2ee.SignedBundle { return k.own }
func (k *testKeys) DataKey() []byte               { return k.data }
func (k *testKeys) OwnKeyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error) {
	if h != k.own.Hash() {
		return nil, nil, e2ee.ErrNoBundle
	}
	return k.kp, k.own, nil
}
func (k *testKeys) Bundle(_ context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	k.dir.mu.Lock()
	defer k.dir.mu.Unlock()
	if b := k.dir.m[p]; b != nil {
		return b, nil
	}
	return nil, e2ee.ErrNoBundle
}

type privPeer struct {
	*modPeer
	store ds.Batching
	keys  *testKeys
	// clock, if set, is the service's Config.Clock from the next open.
	clock func() time.Time
}

func newPrivPeer(t testing.TB, dir *keyDir, name string) *privPeer {
	t.Helper()
	return newPrivPeerOn(t, dir, name, dssync.MutexWrap(ds.NewMapDatastore()))
}

// newPrivPeerOn is newPrivPeer on store.
func newPrivPeerOn(t testing.TB, dir *keyDir, name string, store ds.Batching) *privPeer {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	own, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: 1, Created: now, Expires: now.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 32)
	rand.Read(data)
	keys := &testKeys{dir: dir, kp: kp, own: own, data: data}
	dir.mu.Lock()
	dir.m[id] = own
	dir.mu.Unlock()
	p := &privPeer{modPeer: &modPeer{key: key, id: id}, store: store, keys: keys}
	p.open(t)
	return p
}

// open starts (or restarts) the peer's service on its store.
func (p *privPeer) open(t testing.TB) {
	t.Helper()
	s, err := New(loopNet{p.id}, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys, Clock: p.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
}

func newKeyDir() *keyDir { return &keyDir{m: map[peer.ID]*e2ee.SignedBundle{}} }

func texts(t testing.TB, p *privPeer, room string) []string {
	t.Helper()
	msgs, err := p.s.History(context.Background(), room, HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

// scan reports whether any key or value of p's store contains b.
func scan(t testing.TB, p *privPeer, b []byte) bool {
	t.Helper()
	res, err := p.store.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for r := range res.Next() {
		if bytes.Contains(r.Value, b) || bytes.Contains([]byte(r.Key), b) {
			return true
		}
	}
	return false
}

func marker() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// A private room among three services: A creates and invites B; C holds
// the room's events (it joined by ID and synced) but was never added.
func TestPrivateRoomMembersRead(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	const name = "plans-7f3e9a"
	room, tok, err := a.s.CreatePrivate(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !room.Private || room.Name != name || tok == "" {
		t.Fatalf("room %+v, token %q", room, tok)
	}
	invite, err := a.s.Invite(ctx, room.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.JoinInvite(ctx, invite); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("C used B's invite: %v", err)
	}
	if _, err := b.s.JoinInvite(ctx, invite); err != nil {
		t.Fatal(err)
	}
	m1 := marker()
	if _, err := a.s.Send(ctx, room.ID, m1); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	if got := texts(t, b, room.ID); !slices.Equal(got, []string{m1}) {
		t.Fatalf("B reads %q, want [%s]", got, m1)
	}
	if rs, _ := b.s.Rooms(ctx); len(rs) != 1 || rs[0].Name != name || !rs[0].Private {
		t.Fatalf("B's rooms: %+v", rs)
	}
	mb := marker()
	if _, err := b.s.Send(ctx, room.ID, mb); err != nil {
		t.Fatal(err)
	}
	a.pull(t, b.modPeer, room.ID)
	if got := texts(t, a, room.ID); !slices.Equal(got, []string{m1, mb}) {
		t.Fatalf("A reads %q", got)
	}

	if _, err := c.s.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a.modPeer, room.ID)
	if n, _ := c.s.led.Count(ctx, room.ID); n == 0 {
		t.Fatal("C stored none of the room's events: the scan below would prove nothing")
	}
	if got := texts(t, c, room.ID); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}
	for _, secret := range []string{m1, mb, name} {
		if scan(t, c, []byte(secret)) {
			t.Fatalf("C's store holds %q", secret)
		}
		if scan(t, a, []byte(secret)) || scan(t, b, []byte(secret)) {
			t.Fatalf("a member's store holds %q in plaintext (not under its data key)", secret)
		}
	}

	// Removal: B reads nothing after its kick; its old messages verify.
	if err := a.s.Kick(ctx, room.ID, b.id.String()); err != nil {
		t.Fatal(err)
	}
	m2 := marker()
	if _, err := a.s.Send(ctx, room.ID, m2); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	if got := texts(t, b, room.ID); slices.Contains(got, m2) {
		t.Fatalf("kicked B reads %q", got)
	}
	t.Logf("m1 %s mb %s m2 %s", m1[:6], mb[:6], m2[:6])
	if got := texts(t, a, room.ID); !slices.Equal(got, []string{m1, mb, m2}) {
		t.Fatalf("A reads %q", got)
	}
	if _, err := b.s.Send(ctx, room.ID, "still here"); err == nil {
		t.Fatal("kicked B could still send")
	}
	for _, p := range []*privPeer{a, b} {
		rep, err := p.s.Verify(ctx, room.ID)
		if err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	}
}
