package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
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

// modPeer is one participant of a moderated room: a real Service on an
// in-memory store, with no network (events move by Ingest, the sync
// path, or the gossip validator).
type modPeer struct {
	s   *Service
	key crypto.PrivKey
	id  peer.ID
}

var noLimits = Limits{AuthorRate: -1, PeerRate: -1, NewcomerRate: -1}

func newModPeer(t testing.TB, name string) *modPeer {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	s, err := New(loopNet{id}, dssync.MutexWrap(ds.NewMapDatastore()), key, Config{Name: name, Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &modPeer{s: s, key: key, id: id}
}

// events returns every stored event of room, in (Lamport, ID) order.
func (p *modPeer) events(t testing.TB, room string) []*ledger.Event {
	t.Helper()
	var out []*ledger.Event
	var before ledger.ID
	for {
		page, err := p.s.led.History(context.Background(), room, before, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(page, out...)
		if len(page) < 1000 {
			return out
		}
		before = page[0].ID()
	}
}

// pull stores what from holds of room and p lacks, by Ingest, as a sync
// would; refused events are skipped without being reported.
func (p *modPeer) pull(t testing.TB, from *modPeer, room string) {
	t.Helper()
	evs := from.events(t, room)
	_, rejected, err := p.s.Ingest(context.Background(), room, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) > 0 {
		t.Fatalf("Ingest reported %d rejections (first: %v); refusals must not blame the responder", len(rejected), rejected[0].Err)
	}
}

// deliver offers ev to p by sync and reports whether it was stored.
func (p *modPeer) deliver(t testing.TB, ev *ledger.Event) bool {
	t.Helper()
	added, rejected, err := p.s.Ingest(context.Background(), ev.Room, []*ledger.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rejected {
		t.Fatalf("Ingest rejected %s: %v", r.Event.ID(), r.Err)
	}
	return len(added) == 1
}

// sign makes an event of room by key naming parents (its clock follows).
func sign(t testing.TB, key crypto.PrivKey, room, kind string, body []byte, parents ...*ledger.Event) *ledger.Event {
	t.Helper()
	var lam uint64
	ids := make([]ledger.ID, len(parents))
	for i, p := range parents {
		ids[i] = p.ID()
		lam = max(lam, p.Lamport)
	}
	ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: kind, Body: body, Time: time.Now(), Lamport: lam + 1, Parents: ids})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func msgBodyOf(text string) []byte {
	b, _ := json.Marshal(msgBody{Text: text})
	return b
}

func modBodyOf(op string, p peer.ID) []byte { return encodeMod(modAct{op: op, peer: p}) }

// texts returns the texts of room's history at p.
func (p *modPeer) texts(t testing.TB, room string) []string {
	t.Helper()
	msgs, err := p.s.History(context.Background(), room, HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

func (p *modPeer) admins(t testing.TB, room string) []string {
	t.Helper()
	a, err := p.s.Admins(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// setup creates a moderated room at creator and joins it at the others
// (by ID, syncing the genesis and the creator's join from creator).
func setup(t testing.TB, creator *modPeer, others ...*modPeer) Room {
	t.Helper()
	r, err := creator.s.Create(context.Background(), "mod", false)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Moderated || r.ID != ModeratedRoomID("mod", creator.id) || r.ID[0] != 'm' {
		t.Fatalf("Create returned %+v", r)
	}
	for _, o := range others {
		if _, err := o.s.Join(context.Background(), r.ID); err != nil {
			t.Fatal(err)
		}
		o.pull(t, creator, r.ID)
		// Joined before the genesis came, o announces its join once the
		// genesis is stored, in the background: wait for it, so the
		// test's heads and views do not change under it.
		testwait.For(t, 5*time.Second, "join announced", func() bool {
			return slices.ContainsFunc(o.events(t, r.ID), func(ev *ledger.Event) bool {
				return ev.Kind == ledger.KindJoin && ev.Author == o.id
			})
		})
	}
	return r
}

func head(t testing.TB, p *modPeer, room string) *ledger.Event {
	t.Helper()
	evs := p.events(t, room)
	return evs[len(evs)-1]
}

// lastOf returns p's newest event of kind in room.
func lastOf(t testing.TB, p *modPeer, room, kind string) *ledger.Event {
	t.Helper()
	evs := p.events(t, room)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == kind {
			return evs[i]
		}
	}
	t.Fatalf("no %s event", kind)
	return nil
}
