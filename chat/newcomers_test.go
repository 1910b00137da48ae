package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// strangerRoots signs n roots of room, each by a fresh identity: the
// cheapest spam an open room can get.
func strangerRoots(t *testing.T, room string, n int) []*ledger.Event {
	t.Helper()
	evs := make([]*ledger.Event, n)
	for i := range evs {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"spam %d"}`, i), Time: time.Now(), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// Fresh identities share one budget per room, on gossip and on sync:
// over it, gossip is ignored (the forwarder is not penalised) and sync
// stores nothing of them; an admitted author's further events and known
// authors are not charged.
func TestNewcomerBudget(t *testing.T) {
	s := localService(t, Config{Limits: Limits{NewcomerRate: 0.001, NewcomerBurst: 5}})
	room := PublicRoomID("open")
	validate := s.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}})
	fwd := peer.ID("forwarder")

	spam := strangerRoots(t, room, 20)
	var accepted, ignored int
	for _, ev := range spam[:10] {
		_, verdict, err := validate(t.Context(), fwd, ev.Raw())
		switch {
		case verdict == Accept:
			accepted++
		case verdict == Ignore && errors.Is(err, ErrRateLimited):
			ignored++
		default:
			t.Fatalf("stranger's event: %v, %v; want accept or ignore as rate limited", verdict, err)
		}
	}
	if accepted != 5 || ignored != 5 {
		t.Fatalf("gossip: %d accepted, %d ignored; want 5 and 5", accepted, ignored)
	}
	// Sync: the budget is spent, so none of ten more strangers is stored,
	// nothing is called the peer's fault, and the error says why (the
	// syncer stops the session: the rest would be dropped too).
	added, rejected, err := s.Ingest(t.Context(), room, spam[10:])
	if !errors.Is(err, ErrRateLimited) || len(added) != 0 || len(rejected) != 0 {
		t.Fatalf("Ingest over budget: %d added, %v, %v; want nothing, rate limited", len(added), rejected, err)
	}
	// An author with a stored event is no newcomer.
	s2 := localService(t, Config{Limits: Limits{NewcomerRate: 0.001, NewcomerBurst: 1}})
	evs := chain(t, room, 3)
	if added, _, err := s2.Ingest(t.Context(), room, evs[:2]); err != nil || len(added) != 2 {
		t.Fatalf("first author's events: %d added, %v; want both (one token)", len(added), err)
	}
	if _, verdict, err := s2.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s2.orph, room: room}})(t.Context(), fwd, evs[2].Raw()); verdict != Accept {
		t.Fatalf("known author over an empty budget: %v, %v; want accept", verdict, err)
	}
}

// loopNet is a Network with no peers: topics accept publishes and
// deliver nothing.
type loopNet struct{ self peer.ID }

func (n loopNet) Self() peer.ID      { return n.self }
func (loopNet) Group(peer.ID) string { return "" }
func (loopNet) JoinTopic(string, ValidateFunc, DeliverFunc) (Topic, error) {
	return loopTopic{}, nil
}

type loopTopic struct{}

func (loopTopic) Publish(context.Context, []byte) error { return nil }
func (loopTopic) Peers() []peer.ID                      { return nil }
func (loopTopic) Close() error                          { return nil }

// Leaving a room forgets its newcomer bucket and admissions, so rooms
// joined and left over the process's life leave nothing behind.
func TestLeaveForgetsNewcomers(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	self, _ := peer.IDFromPrivateKey(key)
	s, err := New(loopNet{self}, dssync.MutexWrap(ds.NewMapDatastore()), key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Join(t.Context(), "open")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Ingest(t.Context(), r.ID, strangerRoots(t, r.ID, 3)); err != nil {
		t.Fatal(err)
	}
	if rooms, pending := s.newcomers.sizes(); rooms != 1 || pending != 1 {
		t.Fatalf("after strangers: %d buckets, %d admission maps; want 1 and 1", rooms, pending)
	}
	if err := s.Leave(t.Context(), r.ID); err != nil {
		t.Fatal(err)
	}
	if rooms, pending := s.newcomers.sizes(); rooms != 0 || pending != 0 {
		t.Fatalf("after leave: %d buckets, %d admission maps; want none", rooms, pending)
	}
}

// Orphans are checked for missing parents before the newcomer budget:
// made-up orphans from fresh keys wait in the orphan pool without
// draining the room's budget, and are charged only when their parents
// arrive and they are released.
func TestOrphansChargedOnRelease(t *testing.T) {
	s := localService(t, Config{Limits: Limits{NewcomerRate: 0.001, NewcomerBurst: 2}})
	room := PublicRoomID("open")
	j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
	validate := s.validator(j)
	fwd := peer.ID("forwarder")

	parent := strangerRoots(t, room, 1)[0]
	for i := range 5 {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		kid, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"kid %d"}`, i),
			Time: time.Now(), Lamport: 2, Parents: []ledger.ID{parent.ID()}})
		if err != nil {
			t.Fatal(err)
		}
		if _, verdict, err := validate(t.Context(), fwd, kid.Raw()); verdict != Ignore || !errors.Is(err, errOrphan) {
			t.Fatalf("orphan %d: %v, %v; want ignored as an orphan", i, verdict, err)
		}
	}
	// The budget is untouched: a fresh author's root takes one token.
	if _, verdict, err := validate(t.Context(), fwd, strangerRoots(t, room, 1)[0].Raw()); verdict != Accept {
		t.Fatalf("fresh root after five orphans: %v, %v; want accept", verdict, err)
	}
	// The parent arrives (not charged: stored directly); of the five
	// released orphans the one token left admits one.
	s.storeBatch(t.Context(), j, []inbound{{ev: parent}})
	n, err := s.led.Count(t.Context(), room)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d events stored, want 2: the parent and one released orphan", n)
	}
}

// syncIn hands evs to s.Ingest the way p2p/ledgersync does: sorted
// parents first, in batches of 512 (one Events frame), all of them
// (a session stops at ErrRateLimited; the next one goes on). It returns
// how many were added and how many batches were over the budget.
func syncIn(t *testing.T, s *Service, room string, evs []*ledger.Event) (n, over int) {
	t.Helper()
	for len(evs) > 0 {
		b := evs[:min(512, len(evs))]
		evs = evs[len(b):]
		added, rejected, err := s.Ingest(t.Context(), room, b)
		if errors.Is(err, ErrRateLimited) {
			over++
		} else if err != nil || len(rejected) > 0 {
			t.Fatalf("Ingest: %v, %d rejected", err, len(rejected))
		}
		n += len(added)
	}
	return n, over
}

// A fresh node catching up by sync on a long history knows none of its
// authors: with the default budget it still stores all of it at once,
// since only a batch's tips are charged. The history has 3,000 authors,
// two writing at each step, each naming both events of the step before.
func TestSyncCatchUpNotThrottled(t *testing.T) {
	const authors = 3000
	s := localService(t, Config{Limits: DefaultLimits()})
	room := PublicRoomID("long")
	var evs []*ledger.Event
	var parents []ledger.ID
	for i := 0; i < authors; i += 2 {
		var step []ledger.ID
		for k := range 2 {
			key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
			ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"%d"}`, i+k),
				Time: time.Now(), Lamport: uint64(i/2 + 1), Parents: parents})
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
			step = append(step, ev.ID())
		}
		parents = step
	}
	if n, over := syncIn(t, s, room, evs); n != authors || over > 0 {
		t.Fatalf("stored %d of %d events of new authors by sync, %d batches over the budget; want all, none", n, authors, over)
	}
}

// A hostile responder hands over roots and children of a stored event,
// each from a fresh identity: every one is a tip, so the room's newcomer
// budget bounds what is stored, on sync as on gossip.
func TestSyncSpamHeldToNewcomerBudget(t *testing.T) {
	s := localService(t, Config{Limits: DefaultLimits()})
	room := PublicRoomID("open")
	anchor := chain(t, room, 1)
	if n, _ := syncIn(t, s, room, anchor); n != 1 {
		t.Fatalf("anchor: %d stored", n)
	}
	spam := strangerRoots(t, room, 2000)
	for i := range 2000 {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"kid %d"}`, i),
			Time: time.Now(), Lamport: 2, Parents: []ledger.ID{anchor[0].ID()}})
		if err != nil {
			t.Fatal(err)
		}
		spam = append(spam, ev)
	}
	start := time.Now()
	stored, over := syncIn(t, s, room, spam)
	lim := DefaultLimits()
	bound := lim.NewcomerBurst + int(lim.NewcomerRate*(time.Since(start).Seconds()+1))
	t.Logf("responder handed %d spam tips from fresh identities; stored %d (bound %d)", len(spam), stored, bound)
	if stored > bound {
		t.Fatalf("stored %d spam events by sync, budget bound %d", stored, bound)
	}
	if over == 0 {
		t.Fatal("no batch was reported over the budget: the session would pull all the spam")
	}
}

// The newcomer budget refills with the service's clock (Config.Clock),
// the one the orphan pool runs on: here virtual time in a synctest
// bubble, so a second of it buys NewcomerRate more new authors.
func TestNewcomerBudgetRefillsPerVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := localService(t, Config{Limits: Limits{NewcomerRate: 2, NewcomerBurst: 3}})
		room := PublicRoomID("open")
		validate := s.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}})
		spam := strangerRoots(t, room, 20)
		admit := func(evs []*ledger.Event) (n int) {
			for _, ev := range evs {
				if _, verdict, _ := validate(t.Context(), "forwarder", ev.Raw()); verdict == Accept {
					n++
				}
			}
			return n
		}
		if n := admit(spam[:5]); n != 3 {
			t.Fatalf("full budget: %d of 5 admitted, want the burst (3)", n)
		}
		time.Sleep(time.Second) // virtual
		if n := admit(spam[5:10]); n != 2 {
			t.Fatalf("after 1 s: %d of 5 admitted, want NewcomerRate (2)", n)
		}
		time.Sleep(10 * time.Second) // refills to the burst, not beyond
		if n := admit(spam[10:]); n != 3 {
			t.Fatalf("after 10 s: %d of 10 admitted, want the burst (3)", n)
		}
	})
}

// The budget reads Config.Clock, not the wall clock: a clock the test
// steps refills it though no real time passes.
func TestNewcomerBudgetUsesConfigClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := localService(t, Config{Limits: Limits{NewcomerRate: 1, NewcomerBurst: 1}, Clock: clock})
	room := PublicRoomID("open")
	validate := s.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}})
	spam := strangerRoots(t, room, 3)
	verdicts := func() (v []Verdict) {
		for _, ev := range spam[1:] {
			_, verdict, _ := validate(t.Context(), "forwarder", ev.Raw())
			v = append(v, verdict)
		}
		return v
	}
	if _, verdict, _ := validate(t.Context(), "forwarder", spam[0].Raw()); verdict != Accept {
		t.Fatalf("first stranger: %v, want accept", verdict)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if v := verdicts(); v[0] != Accept || v[1] != Ignore {
		t.Fatalf("after the clock moved 1 s: %v; want one accepted, one ignored", v)
	}
}
