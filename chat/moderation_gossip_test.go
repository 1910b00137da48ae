package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// On gossip, moderation is local judgement: a forged mod event and a
// banned author's event are Ignored (not forwarded, nobody penalised),
// never Rejected.
func TestGossipIgnoresRefusedAndHidden(t *testing.T) {
	a, b, c := newModPeer(t, "a"), newModPeer(t, "b"), newModPeer(t, "c")
	r := setup(t, a, b, c)
	ctx := context.Background()
	a.s.mu.Lock()
	j := a.s.rooms[r.ID]
	a.s.mu.Unlock()
	validate := a.s.validator(j)
	forged := sign(t, b.key, r.ID, KindMod, modBodyOf(OpBan, c.id), head(t, a, r.ID))
	if _, v, err := validate(ctx, b.id, forged.Raw()); v != Ignore || !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("forged ban: verdict %v, %v; want Ignore, ErrNotAdmin", v, err)
	}
	before := head(t, a, r.ID)
	if err := a.s.Moderate(ctx, r.ID, OpBan, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	// c's event concurrent with the ban: valid in its past, hidden now.
	conc := sign(t, c.key, r.ID, ledger.KindMsg, msgBodyOf("spam"), before)
	for range 2 { // a second copy is judged alike
		if _, v, err := validate(ctx, c.id, conc.Raw()); v != Ignore || !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("banned author's concurrent event: verdict %v, %v; want Ignore", v, err)
		}
	}
	mr := a.s.modRoom(r.ID)
	mr.mu.Lock()
	_, kept := mr.nodes[conc.ID()]
	mr.mu.Unlock()
	if kept {
		t.Fatal("an ignored banned author's event is held in the room's bookkeeping")
	}
	ok := sign(t, b.key, r.ID, ledger.KindMsg, msgBodyOf("fine"), head(t, a, r.ID))
	if _, v, err := validate(ctx, b.id, ok.Raw()); v != Accept {
		t.Fatalf("honest event: verdict %v, %v", v, err)
	}
}

// A left moderated room's history, read after a restart, still hides
// what its bans hide.
func TestLeftRoomStillHidesAfterRestart(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	s, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	a := &modPeer{s: s, key: key, id: id}
	c := newModPeer(t, "c")
	r := setup(t, a, c)
	ctx := context.Background()
	if _, err := c.s.Send(ctx, r.ID, "spam"); err != nil {
		t.Fatal(err)
	}
	a.pull(t, c, r.ID)
	if err := a.s.Moderate(ctx, r.ID, OpBan, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := (&modPeer{s: s2}).texts(t, r.ID); len(got) != 0 {
		t.Fatalf("left room's history after restart %q, want the spam hidden", got)
	}
}

// A joined moderated room's name works where a ROOM is asked for.
func TestModeratedRoomByName(t *testing.T) {
	a, b := newModPeer(t, "a"), newModPeer(t, "b")
	r := setup(t, a, b)
	ctx := context.Background()
	if _, err := b.s.Send(ctx, "mod", "by name"); err != nil {
		t.Fatalf("Send by the joined moderated room's name: %v", err)
	}
	if got := b.texts(t, r.ID); !slices.Equal(got, []string{"by name"}) {
		t.Fatalf("history %q", got)
	}
	if got, err := b.s.Admins(ctx, "mod"); err != nil || !slices.Equal(got, []string{a.id.String()}) {
		t.Fatalf("Admins by name: %v, %v", got, err)
	}
}

// A node that joined a moderated room by ID and restarted before the
// genesis came still announces its join once the genesis arrives.
func TestDeferredJoinSurvivesRestart(t *testing.T) {
	a := newModPeer(t, "a")
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	s, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.s.Create(context.Background(), "mod", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	b := &modPeer{s: s2, key: key, id: id}
	b.pull(t, a, r.ID)
	testwait.For(t, 5*time.Second, "our join announced after the genesis came", func() bool {
		return slices.ContainsFunc(b.events(t, r.ID), func(ev *ledger.Event) bool { return ev.Author == id && ev.Kind == ledger.KindJoin })
	})
}
