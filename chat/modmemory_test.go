package chat

import (
	"crypto/rand"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// TestModMemory measures what a moderated room's bookkeeping holds per
// event (docs/PROTOCOL.md "Moderation" quotes it): 20,000 messages of
// 50 authors, two parents each, with a ban and an admin appointment in
// the middle. The events themselves are kept alive outside the
// measurement. Bound: 400 bytes per event.
func TestModMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 20,000 events")
	}
	const n, authors = 20000, 50
	creator, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	creatorID, _ := peer.IDFromPrivateKey(creator)
	keys := make([]crypto.PrivKey, authors)
	for i := range keys {
		keys[i], _, _ = crypto.GenerateEd25519Key(rand.Reader)
	}
	room := ModeratedRoomID("big", creatorID)
	body, _ := json.Marshal(createBody{Name: "big", Policy: PolicyOpen})
	mk := func(key crypto.PrivKey, kind string, body []byte, parents ...*ledger.Event) *ledger.Event {
		var lam uint64
		ids := make([]ledger.ID, len(parents))
		for i, p := range parents {
			ids[i], lam = p.ID(), max(lam, p.Lamport)
		}
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: kind, Body: body, Time: time.Now(), Lamport: lam + 1, Parents: ids})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	evs := []*ledger.Event{mk(creator, KindCreate, body)}
	for i := range n {
		var ev *ledger.Event
		switch i {
		case n / 3:
			id, _ := peer.IDFromPrivateKey(keys[0])
			ev = mk(creator, KindMod, encodeMod(modAct{op: OpBan, peer: id}), evs[len(evs)-1])
		case n / 2:
			id, _ := peer.IDFromPrivateKey(keys[1])
			ev = mk(creator, KindMod, encodeMod(modAct{op: OpAdmin, peer: id}), evs[len(evs)-1])
		default:
			parents := []*ledger.Event{evs[len(evs)-1]}
			if len(evs) > 2 {
				parents = append(parents, evs[len(evs)-2])
			}
			ev = mk(keys[1+i%(authors-1)], ledger.KindMsg, msgBodyOf("x"), parents...)
		}
		evs = append(evs, ev)
	}
	before := liveHeap()
	r := newModRoom(room)
	for _, ev := range evs {
		if err := r.check(ev); err != nil {
			t.Fatalf("event %d: %v", ev.Lamport, err)
		}
	}
	r.committed(evs)
	after := liveHeap()
	per := float64(after-before) / float64(len(evs))
	t.Logf("moderated room bookkeeping: %.0f bytes per event (%d events, %d frontiers)", per, len(evs), len(r.fronts))
	if per > 400 {
		t.Fatalf("%.0f bytes per event, over the 400 documented", per)
	}
	runtime.KeepAlive(evs)
	runtime.KeepAlive(r)
}

// BenchmarkModCheck measures judging one event of a moderated room in its
// causal past (the bookkeeping added to every gossiped, synced and sent
// event of such a room): a chain of messages after a ban.
func BenchmarkModCheck(b *testing.B) {
	creator, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	creatorID, _ := peer.IDFromPrivateKey(creator)
	writer, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	room := ModeratedRoomID("bench", creatorID)
	body, _ := json.Marshal(createBody{Name: "bench", Policy: PolicyOpen})
	sign := func(key crypto.PrivKey, kind string, body []byte, parent *ledger.Event) *ledger.Event {
		d := ledger.Draft{Room: room, Kind: kind, Body: body, Time: time.Now(), Lamport: 1}
		if parent != nil {
			d.Lamport, d.Parents = parent.Lamport+1, []ledger.ID{parent.ID()}
		}
		ev, err := ledger.Sign(key, d)
		if err != nil {
			b.Fatal(err)
		}
		return ev
	}
	stranger, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	strangerID, _ := peer.IDFromPrivateKey(stranger)
	evs := []*ledger.Event{sign(creator, KindCreate, body, nil)}
	evs = append(evs, sign(creator, KindMod, encodeMod(modAct{op: OpBan, peer: strangerID}), evs[0]))
	for len(evs) < b.N+2 {
		evs = append(evs, sign(writer, ledger.KindMsg, msgBodyOf("x"), evs[len(evs)-1]))
	}
	r := newModRoom(room)
	for _, ev := range evs[:2] {
		if err := r.check(ev); err != nil {
			b.Fatal(err)
		}
	}
	r.committed(evs[:2])
	b.ResetTimer()
	for _, ev := range evs[2:] {
		if err := r.check(ev); err != nil {
			b.Fatal(err)
		}
	}
}
