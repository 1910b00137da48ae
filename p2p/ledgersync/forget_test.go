package ledgersync

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
)

// held counts what the syncer keeps per room.
func (s *Syncer) held() (snaps, status, known int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.snaps), len(s.status), len(s.known)
}

func heldString(s *Syncer) string {
	sn, st, kn := s.held()
	return fmt.Sprintf("snaps %d, status %d, known %d", sn, st, kn)
}

// TestRoomStateFreed: a responder's key snapshot (~130 bytes per event of
// the room) lives only while sessions use it, however many peers force
// one, and what either side keeps for a room (status, peers that answered)
// goes when the room is left.
func TestRoomStateFreed(t *testing.T) {
	dag := makeDAG(t, testRoom, 600, 3, 5)
	a := newNode(t, manual())
	load(t, a.store, dag)
	peers := make([]*node, 3)
	for i := range peers {
		peers[i] = newNode(t, manual())
		load(t, peers[i].store, dag[:100*(i+1)])
		connect(t, peers[i].h, a.h)
	}
	// Concurrent sessions share one snapshot; it is freed after the last.
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			if _, err := p.sy.Sync(t.Context(), a.h.ID(), testRoom); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	testwait.For(t, 5*time.Second, "a's snapshot freed", func() bool { sn, _, _ := a.sy.held(); return sn == 0 },
		func() string { return heldString(a.sy) })
	for _, p := range peers {
		if count(t, p.store) != len(dag) {
			t.Fatalf("peer has %d of %d events", count(t, p.store), len(dag))
		}
	}

	// a leaves: the next session it is asked for drops what it kept.
	b := peers[0]
	if _, st, _ := a.sy.held(); st != 1 {
		t.Fatalf("a: %s, want a status", heldString(a.sy))
	}
	a.store.setRooms()
	if _, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom); !errors.Is(err, ErrRoomUnknown) {
		t.Fatalf("sync with a after it left: %v, want ErrRoomUnknown", err)
	}
	testwait.For(t, 5*time.Second, "a's room state dropped", func() bool { sn, st, kn := a.sy.held(); return sn+st+kn == 0 },
		func() string { return heldString(a.sy) })

	// b leaves too: its own next session (any room) drops the left room's.
	if _, st, kn := b.sy.held(); st != 1 || kn != 1 {
		t.Fatalf("b: %s, want a status and a known peer", heldString(b.sy))
	}
	b.store.setRooms()
	if _, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom); !errors.Is(err, ErrRoomUnknown) {
		t.Fatalf("sync after leaving: %v, want ErrRoomUnknown", err)
	}
	if sn, st, kn := b.sy.held(); sn+st+kn != 0 {
		t.Fatalf("b after leaving: %s", heldString(b.sy))
	}
}
