package chat

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// FuzzValidateGossip runs the room topic validator on arbitrary messages.
// Properties: no panic; an accepted message is a valid event of that room;
// a message not accepted comes with the reason.
func FuzzValidateGossip(f *testing.F) {
	other, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	from, _ := peer.IDFromPrivateKey(other)
	room := PublicRoomID("general")
	for _, r := range []string{room, PublicRoomID("random")} {
		ev, err := ledger.Sign(other, ledger.Draft{Room: r, Kind: ledger.KindMsg, Body: []byte(`{"text":"hi"}`), Time: time.Now(), Lamport: 1})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Raw())
	}
	f.Add([]byte("not an event"))
	// A real service (in-memory store): the validator asks its ledger
	// whether an event is already stored.
	s := localService(f, Config{Limits: Limits{AuthorRate: -1, PeerRate: -1}})
	validate := s.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, verdict, err := validate(context.Background(), from, data)
		if verdict != Accept {
			if err == nil {
				t.Fatalf("validator said %v for %x without saying why", verdict, data)
			}
			return
		}
		ev, ok := v.(*ledger.Event)
		if !ok || ev.Room != room || ev.ID() != ledger.ComputeID(data) {
			t.Fatalf("validator accepted %x as %#v", data, v)
		}
	})
}
