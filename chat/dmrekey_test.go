package chat

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

func TestDMRekeyIntervalConfig(t *testing.T) {
	if got := DefaultConfig().DMRekeyInterval; got != 7*24*time.Hour {
		t.Fatalf("default DMRekeyInterval %v, want 7 days", got)
	}
	if got := (Config{}).withDefaults().DMRekeyInterval; got != 7*24*time.Hour {
		t.Fatalf("zero DMRekeyInterval became %v, want 7 days", got)
	}
	c := DefaultConfig()
	c.DMRekeyInterval = 30 * time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "DMRekeyInterval") {
		t.Fatalf("Validate of a 30-minute interval: %v", err)
	}
	c.DMRekeyInterval = MinDMRekeyInterval
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of the least interval: %v", err)
	}
}

// openDM restarts p's service with DM delivery among peers (or
// cfg.DMDelivery if set) and cfg's Clock, DMRekeyInterval and
// EpochKeyRetention.
func (p *privPeer) openDM(t testing.TB, peers map[peer.ID]*Service, cfg Config) {
	t.Helper()
	p.s.Close()
	var d DMDelivery = directDelivery{peers: peers}
	if cfg.DMDelivery != nil {
		d = cfg.DMDelivery
	}
	s, err := New(loopNet{p.id}, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys,
		DMDelivery: d, Clock: cfg.Clock,
		DMRekeyInterval: cfg.DMRekeyInterval, EpochKeyRetention: cfg.EpochKeyRetention})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
	peers[p.id] = s
}

// epochOfMessage returns the epoch message m was sealed under.
func epochOfMessage(t *testing.T, p *privPeer, m Message) ledger.ID {
	t.Helper()
	id, err := ledger.ParseID(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p.s.led.Get(context.Background(), m.Room, id)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := e2ee.ParseCiphertext(ev.Body)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.ID(ct.Epoch)
}

// A direct conversation rekeys once its epoch is DMRekeyInterval old:
// before the next message of either member (here the one that did not
// create it, so not an admin), and from the creator's sweep when idle.
// The peer reads what comes under the new epoch, and the old epoch's
// chain states are erased EpochKeyRetention after it ended.
func TestDirectMessagesRekey(t *testing.T) {
	ctx := context.Background()
	const interval, retention = 2 * time.Hour, 24 * time.Hour
	start := time.Now()
	var now atomic.Int64
	now.Store(start.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }
	cfg := Config{Clock: clock, DMRekeyInterval: interval, EpochKeyRetention: retention}
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	a.openDM(t, peers, cfg)
	b.openDM(t, peers, cfg)

	m1, err := a.s.DMSend(ctx, b.id.String(), "one")
	if err != nil {
		t.Fatal(err)
	}
	room := m1.Room
	b.pull(t, a.modPeer, room)
	e1 := epochOfMessage(t, a, m1)
	current := func(p *privPeer) ledger.ID {
		id, _, _ := p.s.modRoom(room).currentEpoch()
		return id
	}

	advance(interval / 2)
	m2, err := b.s.DMSend(ctx, a.id.String(), "two")
	if err != nil {
		t.Fatal(err)
	}
	if got := epochOfMessage(t, b, m2); got != e1 {
		t.Fatalf("rekeyed before the interval: %s, want %s", got, e1)
	}

	advance(interval)
	m3, err := b.s.DMSend(ctx, a.id.String(), "three")
	if err != nil {
		t.Fatal(err)
	}
	e2 := epochOfMessage(t, b, m3)
	if e2 == e1 || current(b) != e2 {
		t.Fatalf("message after the interval under %s (current %s), want a new epoch after %s", e2, current(b), e1)
	}
	a.pull(t, b.modPeer, room)
	if current(a) != e2 {
		t.Fatal("A did not move to B's epoch")
	}
	if got := a.texts(t, room); strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("A reads %q", got)
	}

	// Idle: the creator's sweep rekeys once due, the other member's
	// sweep leaves it to the creator.
	a.s.rekeyDueDMs(ctx)
	if current(a) != e2 {
		t.Fatal("the sweep rekeyed a fresh epoch")
	}
	advance(interval + time.Minute)
	b.s.rekeyDueDMs(ctx)
	if current(b) != e2 {
		t.Fatal("the sweep of the member that did not create the conversation rekeyed it")
	}
	a.s.rekeyDueDMs(ctx)
	e3 := current(a)
	if e3 == e2 {
		t.Fatal("the creator's sweep did not rekey a due conversation")
	}
	b.pull(t, a.modPeer, room)
	m4, err := b.s.DMSend(ctx, a.id.String(), "four")
	if err != nil {
		t.Fatal(err)
	}
	if got := epochOfMessage(t, b, m4); got != e3 {
		t.Fatalf("B sent under %s, want the sweep's epoch %s", got, e3)
	}
	a.pull(t, b.modPeer, room)
	if got := a.texts(t, room); strings.Join(got, ",") != "one,two,three,four" {
		t.Fatalf("A reads %q", got)
	}

	// The ended epochs' chains go EpochKeyRetention after A saw them end.
	chains := func(epoch ledger.ID) int {
		res, err := a.s.store.Query(ctx, query.Query{Prefix: chainPrefix(room, epoch).String(), KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := res.Rest()
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	a.s.sweepEpochs(ctx)
	if chains(e1) == 0 || chains(e2) == 0 {
		t.Fatal("chains of the ended epochs gone before their retention")
	}
	advance(retention + time.Minute)
	a.s.sweepEpochs(ctx)
	if chains(e1) != 0 || chains(e2) != 0 {
		t.Fatalf("chains of the ended epochs kept after the retention: %d, %d", chains(e1), chains(e2))
	}
	if chains(e3) == 0 {
		t.Fatal("chains of the current epoch erased")
	}
	if got := a.texts(t, room); strings.Join(got, ",") != "one,two,three,four" {
		t.Fatalf("after the erase A reads %q, want what it decrypted before", got)
	}
}

// Both members send at once after the interval, each unaware of the
// other's rekey: two concurrent epochs, both valid. Each side reads
// both messages, and both settle on the same current epoch (the lowest
// ID), in which their next messages go.
func TestDirectMessagesConcurrentRekey(t *testing.T) {
	ctx := context.Background()
	const interval = 2 * time.Hour
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	cfg := Config{Clock: func() time.Time { return time.Unix(0, now.Load()) }, DMRekeyInterval: interval}
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	a.openDM(t, peers, cfg)
	b.openDM(t, peers, cfg)
	m1, err := a.s.DMSend(ctx, b.id.String(), "one")
	if err != nil {
		t.Fatal(err)
	}
	room := m1.Room
	exchange(t, []*privPeer{a, b}, room)
	now.Add(int64(interval + time.Minute))
	ma, err := a.s.DMSend(ctx, b.id.String(), "from a")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := b.s.DMSend(ctx, a.id.String(), "from b")
	if err != nil {
		t.Fatal(err)
	}
	ea, eb := epochOfMessage(t, a, ma), epochOfMessage(t, b, mb)
	if ea == eb || ea == epochOfMessage(t, a, m1) {
		t.Fatalf("want two concurrent new epochs, got %s and %s", ea, eb)
	}
	exchange(t, []*privPeer{a, b}, room)
	ca, _, _ := a.s.modRoom(room).currentEpoch()
	cb, _, _ := b.s.modRoom(room).currentEpoch()
	if ca != cb || ca != min(ea, eb) {
		t.Fatalf("current epochs %s and %s, want both the lowest of %s, %s", ca, cb, ea, eb)
	}
	for _, p := range []*privPeer{a, b} {
		got := p.texts(t, room)
		if len(got) != 3 || !slices.Contains(got, "from a") || !slices.Contains(got, "from b") {
			t.Fatalf("%s reads %q", p.id, got)
		}
	}
	m2, err := b.s.DMSend(ctx, a.id.String(), "after")
	if err != nil {
		t.Fatal(err)
	}
	if got := epochOfMessage(t, b, m2); got != ca {
		t.Fatalf("next message under %s, want the winner %s (no further rekey)", got, ca)
	}
}
