package chat

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/ledger"
)

// orphanEvents signs n events of room with parents made-up parents each
// (none of which exists) and a body of about body bytes.
func orphanEvents(t testing.TB, room string, n, parents, body int) []*ledger.Event {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	text := strings.Repeat("x", body)
	out := make([]*ledger.Event, n)
	for i := range out {
		ps := make([]ledger.ID, parents)
		for k := range ps {
			sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", room, i, k))
			ps[k] = ledger.ID(append([]byte{0x12, 0x20}, sum[:]...))
		}
		slices.Sort(ps)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":%q}`, text),
			Time: time.Now(), Lamport: 2, Parents: ps})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

// Orphans from many groups and rooms stay within every budget while they
// arrive; once MaxAge passes they are all gone, from every index, with
// nobody adding more (the attacker left).
func TestOrphanBudgetsAndExpiry(t *testing.T) {
	lim := OrphanLimits{Bytes: 400 << 10, RoomBytes: 200 << 10, GroupBytes: 60 << 10, MaxAge: time.Minute}
	now := time.Unix(1000, 0)
	p := newOrphanPool(lim, func() time.Time { return now })
	var levels int
	p.onLevel = func(events int, bytes int64) {
		levels++
		if bytes > lim.Bytes {
			t.Fatalf("gauge %d bytes over the budget %d", bytes, lim.Bytes)
		}
	}
	rooms := []string{PublicRoomID("a"), PublicRoomID("b")}
	evs := map[string][]*ledger.Event{}
	for _, r := range rooms {
		evs[r] = orphanEvents(t, r, 300, ledger.MaxParents, 1000)
	}
	for i := range 300 {
		for _, r := range rooms {
			ev := evs[r][i]
			p.add(r, ev, ev.Parents, "", fmt.Sprintf("group%d", i%5))
			st := p.stats()
			if st.Bytes > lim.Bytes || st.MaxRoomBytes > lim.RoomBytes || st.MaxGroupBytes > lim.GroupBytes {
				t.Fatalf("over a budget: %+v, limits %+v", st, lim)
			}
		}
		now = now.Add(10 * time.Millisecond)
	}
	st := p.stats()
	t.Logf("after 600 orphans of %d bytes: %+v", orphanCost(evs[rooms[0]][0], ledger.MaxParents), st)
	if st.Evicted == 0 || st.Events == 0 {
		t.Fatalf("stats %+v: want some held and some evicted", st)
	}
	// Eviction left nothing behind: every waiting entry belongs to a held event.
	ev, waiting, _, _ := p.indexSizes()
	if waiting > ev*ledger.MaxParents {
		t.Fatalf("%d waiting entries for %d events", waiting, ev)
	}
	now = now.Add(lim.MaxAge + time.Second)
	p.sweep()
	if e, w, r, g := p.indexSizes(); e+w+r+g != 0 {
		t.Fatalf("after MaxAge: %d events, %d waiting, %d rooms, %d groups left", e, w, r, g)
	}
	if st := p.stats(); st.Bytes != 0 {
		t.Fatalf("after MaxAge: %+v", st)
	}
}

// An orphan larger than a budget on its own is not held.
func TestOrphanLargerThanBudget(t *testing.T) {
	p := newOrphanPool(OrphanLimits{Bytes: 4 << 10, RoomBytes: 4 << 10, GroupBytes: 4 << 10, MaxAge: time.Minute}, time.Now)
	ev := orphanEvents(t, PublicRoomID("a"), 1, 1, 8<<10)[0]
	if p.add(ev.Room, ev, ev.Parents, "", "g") {
		t.Fatal("an orphan over the group budget was held")
	}
	if e, w, r, g := p.indexSizes(); e+w+r+g != 0 {
		t.Fatalf("%d %d %d %d left in the indexes", e, w, r, g)
	}
}

// What an orphan is charged covers what holding it costs in the heap, for
// small events with the most parents and for large ones, so the byte
// budgets bound memory (orphanOverhead, orphanRefCost).
func TestOrphanCostCoversHeap(t *testing.T) {
	for _, tc := range []struct {
		name          string
		n, parents, b int
	}{
		{"small, 32 parents", 4000, ledger.MaxParents, 100},
		{"48 KB, 1 parent", 300, 1, 48<<10 - 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Held, the events are part of the cost: measure from before
			// they were made, and keep only the pool.
			p := newOrphanPool(OrphanLimits{Bytes: 1 << 40, RoomBytes: 1 << 40, GroupBytes: 1 << 40, MaxAge: time.Hour}, time.Now)
			before := liveHeap()
			for _, ev := range orphanEvents(t, PublicRoomID("heap"), tc.n, tc.parents, tc.b) {
				ev, _ = ledger.DecodeOwned(bytes.Clone(ev.Raw())) // as gossip hands them over
				p.add(ev.Room, ev, ev.Parents, "peer", "group")
			}
			grew := liveHeap() - before
			st := p.stats()
			t.Logf("%d orphans: charged %d bytes, live heap grew %d", st.Events, st.Bytes, grew)
			if grew > st.Bytes {
				t.Fatalf("holding them cost %d bytes, charged only %d", grew, st.Bytes)
			}
			runtime.KeepAlive(p)
		})
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
