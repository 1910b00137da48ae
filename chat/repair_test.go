package chat

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Repair asks come after missingGrace and then after waits that double
// (0.3 s, 0.6 s, … 9.6 s), missingRetries+1 times at most, and stop as
// soon as an ask says so.
func TestRepeatAskBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Service
		defer s.timers.Stop()
		var mu sync.Mutex // the asks run on timer goroutines
		var at []time.Duration
		asks := func() []time.Duration { mu.Lock(); defer mu.Unlock(); return slices.Clone(at) }
		start := time.Now()
		s.repeatAsk(func(attempt int) bool {
			mu.Lock()
			defer mu.Unlock()
			if attempt != len(at) {
				t.Errorf("attempt %d, want %d", attempt, len(at))
			}
			at = append(at, time.Since(start))
			return true
		})
		time.Sleep(time.Minute)
		want := []time.Duration{300, 900, 2100, 4500, 9300, 18900}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if got := asks(); !slices.Equal(got, want) {
			t.Fatalf("asked at %v, want %v", got, want)
		}

		at = nil // no ask is pending
		s.repeatAsk(func(int) bool {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, 0)
			return len(at) < 2
		})
		time.Sleep(time.Minute)
		if n := len(asks()); n != 2 {
			t.Fatalf("%d asks, want 2: the second said stop", n)
		}
	})
}

// An orphan that arrives while its forwarder's repair runs is asked for
// once that repair ends: here A's repair ends when A's parent arrives,
// and B (parents still missing, same forwarder) gets a repair of its own.
func TestOrphanDuringRepairAskedAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var asks []peer.ID
		s := localService(t, Config{OnMissing: func(_ string, p peer.ID) {
			mu.Lock()
			defer mu.Unlock()
			asks = append(asks, p)
		}})
		asked := func() []peer.ID { mu.Lock(); defer mu.Unlock(); return slices.Clone(asks) }
		room := PublicRoomID("repair")
		j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
		validate := s.validator(j)
		const fwd = peer.ID("forwarder")
		a, b := chain(t, room, 2), chain(t, room, 2)

		if _, v, err := validate(t.Context(), fwd, a[1].Raw()); v != Ignore || !errors.Is(err, errOrphan) {
			t.Fatalf("A: %v, %v; want an orphan", v, err)
		}
		time.Sleep(time.Second) // A's first ask, to fwd
		if _, v, err := validate(t.Context(), fwd, b[1].Raw()); v != Ignore || !errors.Is(err, errOrphan) {
			t.Fatalf("B: %v, %v; want an orphan", v, err)
		}
		s.storeBatch(t.Context(), j, []inbound{{ev: a[0]}}) // A's parent: A is stored
		if j.orph.has(a[1].ID()) {
			t.Fatal("A still an orphan after its parent was stored")
		}
		before := len(asked())
		time.Sleep(time.Minute)
		after := asked()[before:]
		if !slices.Contains(after, fwd) {
			t.Fatalf("asks after A's repair ended: %q; want one to %s for B", after, fwd)
		}
	})
}
