package chat

import (
	"crypto/rand"
	"runtime"
	"testing"
	"time"
	"weak"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Close stops a room's repair asks, so that a closed Service is not kept
// reachable by them (they back off up to 9.6 s) with its ledger and queues.
func TestClosedServiceNotHeldByRepairTimers(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	s, err := New(nil, dssync.MutexWrap(ds.NewMapDatastore()), key, Config{OnMissing: func(string, peer.ID) {}})
	if err != nil {
		t.Fatal(err)
	}
	room := PublicRoomID("closing")
	j := &joined{Room: Room{ID: room}, in: newRoomQueue[inbound](1), orph: &orphans{pool: s.orph, room: room}}
	s.dropped(s.ctx, j, chain(t, room, 1)[0], "forwarder") // schedules an ask in 300 ms
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Without the stop the ask would still be pending here, holding s
	// until it fired.
	if n := s.timers.Pending(); n != 0 {
		t.Fatalf("%d repair timers still pending after Close", n)
	}
	held := weak.Make(s)
	s, j = nil, nil
	// Nothing else holds it either (goroutines that were ending at Close
	// may hold it a moment longer).
	for deadline := time.Now().Add(5 * time.Second); held.Value() != nil && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if held.Value() != nil {
		t.Fatal("the closed Service is still reachable")
	}
}
