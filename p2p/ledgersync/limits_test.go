package ledgersync

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// heapMiB is the live heap after a collection.
func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// maxRound encodes Ranges frames of n ID-list items of MaxIDList keys each
// (random digests on increasing clocks): the largest message a requester
// may send in one round, once n = MaxItemsPerRound.
func maxRound(t testing.TB, n int) []byte {
	t.Helper()
	var out []byte
	per := (MaxFrameSize - 16) / (MaxIDList*(1+digestLen) + 64)
	for first := 0; first < n; first += per {
		items := make([]item, 0, per)
		for x := first; x < min(n, first+per); x++ {
			it := item{lo: bound{lamport: uint64(x)*MaxIDList + 1}, hi: bound{lamport: uint64(x+1)*MaxIDList + 1}, mode: modeIDList}
			for k := range MaxIDList {
				var d [32]byte
				_, _ = rand.Read(d[:])
				it.keys = append(it.keys, ledger.Key{Lamport: uint64(x)*MaxIDList + 1 + uint64(k), ID: ledger.IDFromDigest(d)})
			}
			items = append(items, it)
		}
		out = appendFrame(out, &frame{typ: frameRanges, items: items})
	}
	return out
}

// TestRequestRoundStreamed: hostile requesters send huge request rounds
// (ID lists of 256 keys, 2,048 items each) and hold them open. The
// responder answers each frame as it arrives, so what it holds does not
// grow with the round: live heap stays under a 48 MiB ceiling above the
// baseline while the rounds are open (buffering them held ~40 MiB per
// attacker).
func TestRequestRoundStreamed(t *testing.T) {
	const attackers, items = 3, 2048
	a := newNode(t, manual())
	load(t, a.store, makeDAG(t, testRoom, 50, 2, 31))
	round := maxRound(t, items)
	base := heapMiB()

	hs := make([]host.Host, attackers)
	for i := range hs {
		hs[i] = newHost(t)
		connect(t, hs[i], a.h)
	}
	want := a.sy.Usage().Received
	for _, m := range hs {
		s, c := openSession(t, m, a.h.ID(), 10*time.Second)
		// The round, without its End: the responder waits for more.
		if _, err := s.Write(round); err != nil {
			t.Fatal(err)
		}
		want += c.written + int64(len(round))
	}
	testwait.For(t, 20*time.Second, "the rounds read by the responder", func() bool { return a.sy.Usage().Received >= want })
	held := heapMiB() - base
	t.Logf("%d open rounds of %d items × %d keys (%.0f MiB on the wire): responder holds %.1f MiB", attackers, items, MaxIDList, float64(attackers*len(round))/(1<<20), held)
	if held > 48 {
		t.Fatalf("responder holds %.1f MiB with the rounds open, ceiling 48 MiB", held)
	}
}

// TestDeferredBytesBounded: a hostile responder pushes 32 MiB of valid
// events whose parents it never sends (to a requester with an empty room,
// which accepts the whole range). The requester holds at most
// MaxDeferredBytes of them, drops the rest without blaming the peer, ends
// with ErrLimit, and holds nothing once the session is over.
func TestDeferredBytesBounded(t *testing.T) {
	const budget = 4 << 20
	key := testKey(t)
	var fake [32]byte
	_, _ = rand.Read(fake[:])
	body := make([]byte, 40<<10)
	var evs [][]byte
	total := 0
	for i := 0; total < 32<<20; i++ {
		body[0], body[1] = byte(i), byte(i>>8)
		ev, err := ledger.Sign(key, ledger.Draft{Room: testRoom, Kind: ledger.KindMsg, Body: body,
			Time: time.UnixMilli(1700000000000 + int64(i)), Lamport: 2, Parents: []ledger.ID{ledger.IDFromDigest(fake)}})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev.Raw())
		total += len(ev.Raw())
	}
	var reply []byte
	for i := 0; i < len(evs); i += 20 {
		reply = appendFrame(reply, &frame{typ: frameEvents, events: evs[i:min(i+20, len(evs))]})
	}
	reply = appendFrame(reply, &frame{typ: frameEnd})
	m := fakeResponder(t, reply)
	b := newNode(t, Config{Manual: true, MaxDeferredBytes: budget})
	connect(t, b.h, m.h)

	var peak int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := b.sy.Sync(t.Context(), m.h.ID(), testRoom)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("got %v, want ErrLimit", err)
		}
	}()
	for polling := true; polling; {
		select {
		case <-done:
			polling = false
		case <-time.After(time.Millisecond):
			peak = max(peak, b.sy.Usage().DeferredBytes)
		}
	}
	t.Logf("pushed %d events (%d MiB) without parents: peak deferred %.1f MiB (budget %d MiB)", len(evs), total>>20, float64(peak)/(1<<20), budget>>20)
	if peak > budget {
		t.Fatalf("deferred %d bytes, budget %d", peak, budget)
	}
	if n := b.sy.Usage().DeferredBytes; n != 0 {
		t.Fatalf("%d deferred bytes left after the session", n)
	}
	if b.bad.count(m.h.ID()) != 0 {
		t.Fatal("peer blamed for events without parents")
	}
}

// TestLimitRetryBacksOff: sessions that keep stopping at a limit with the
// same peer are retried later each time, not every second; a clean
// session resets the delay.
func TestLimitRetryBacksOff(t *testing.T) {
	a := newNode(t, manual())
	tk := task{testRoom, "peer"}
	var prev time.Duration
	for i := range 6 {
		d := a.sy.retryLimit(tk)
		if i > 0 && d < prev*3/2 {
			t.Fatalf("retry %d after %v, previous %v: not backing off", i, d, prev)
		}
		prev = d
	}
	if prev < 20*time.Second {
		t.Fatalf("sixth retry after %v", prev)
	}
	a.sy.mu.Lock()
	delete(a.sy.limited, tk) // what a clean session does
	a.sy.mu.Unlock()
	if d := a.sy.retryLimit(tk); d > 2*time.Second {
		t.Fatalf("after reset: %v", d)
	}
}

// TestMisbehaverBlocked: after a requester breaks the protocol, its new
// sessions are reset before a byte is read, whether or not it redials,
// for Config.BlockFor; and we do not sync from it either.
func TestMisbehaverBlocked(t *testing.T) {
	a := newNode(t, manual())
	load(t, a.store, makeDAG(t, testRoom, 20, 1, 12))
	m := newHost(t)
	connect(t, m, a.h)
	hello := func() network.Stream {
		s, err := m.NewStream(t.Context(), a.h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(s, 5*time.Second)
		_ = c.send(&frame{typ: frameHello, room: testRoom, fp: fp16{count: 1}})
		_ = c.flush()
		return s
	}
	s := hello()
	_, _ = s.Write(binary.AppendUvarint(nil, MaxFrameSize+100))
	testwait.For(t, 10*time.Second, "the garbling requester reported", func() bool { return a.bad.count(m.ID()) == 1 })
	_ = m.Network().ClosePeer(a.h.ID()) // redial: a fresh connection
	connect(t, m, a.h)
	before := a.sy.Usage().Received
	s = hello()
	if _, err := io.ReadAll(s); err == nil {
		t.Fatal("a blocked peer's session was answered")
	}
	if got := a.sy.Usage().Received; got != before {
		t.Fatalf("read %d bytes from a blocked peer", got-before)
	}
	if _, err := a.sy.Sync(t.Context(), m.ID(), testRoom); !errors.Is(err, ErrBlocked) {
		t.Fatalf("sync with a blocked peer: %v", err)
	}
}
