package ledgersync

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// The tests in this file check the syncer's timed logic (the settle sync,
// the periodic sync, retries after busy and after a session limit) inside
// a testing/synctest bubble: hosts talk QUIC over simnet, an in-memory
// network whose latency and bandwidth are timers, and ledgers sit on
// in-memory datastores, so every wait is virtual time and the timings
// asserted are exact. simnet carries QUIC only; the TCP and yamux path
// and the real-socket tests stay in the other files.

// simLatency is the one-way delay of every simnet link.
const simLatency = 5 * time.Millisecond

// newSimHosts starts n hosts on one simnet (QUIC only, no relay, null
// resource manager) and closes them, then the network, when the test
// ends. It must run inside a synctest bubble. The hosts share one /24.
func newSimHosts(t *testing.T, n int) []host.Host {
	t.Helper()
	return newSimHostsAt(t, n, simnet.IntToPublicIPv4)
}

// newSimHostsAt is newSimHosts with host i at address ip(i).
func newSimHostsAt(t *testing.T, n int, ip func(int) net.IP) []host.Host {
	t.Helper()
	nw := &simnet.Simnet{LatencyFunc: simnet.StaticLatency(simLatency)}
	link := simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
		Uplink:   simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
	}
	hs := make([]host.Host, n)
	for i := range hs {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", ip(i))),
			libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
			simlibp2p.QUICSimnet(nw, link),
			libp2p.DisableIdentifyAddressDiscovery(), // stalls synctest (see simlibp2p)
			libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.DisableRelay(), libp2p.DisableMetrics(),
		)
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = h
	}
	nw.Start()
	t.Cleanup(func() {
		for _, h := range hs {
			h.Close()
		}
		nw.Close()
	})
	return hs
}

// simPair is two syncers with cfg on a simnet, not yet connected.
func simPair(t *testing.T, cfg Config) (a, b *node) {
	t.Helper()
	hs := newSimHosts(t, 2)
	return newNodeWith(t, cfg, newStore(t), hs[0]), newNodeWith(t, cfg, newStore(t), hs[1])
}

// has reports whether n's ledger holds every one of evs.
func has(t *testing.T, n *node, evs ...*ledger.Event) bool {
	t.Helper()
	for _, e := range evs {
		ok, err := n.store.led.Has(t.Context(), testRoom, e.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return false
		}
	}
	return true
}

// quiet waits until cond holds and no sync is queued, running or being
// served on any of n, then until nothing in the bubble runs.
func quiet(t *testing.T, what string, cond func() bool, n ...*node) {
	t.Helper()
	idle := func(x *node) bool {
		x.sy.mu.Lock()
		defer x.sy.mu.Unlock()
		return len(x.sy.pending)+len(x.sy.outgoing)+len(x.sy.serving) == 0
	}
	testwait.For(t, time.Minute, what+", then no sync in progress", func() bool {
		for _, x := range n {
			if !idle(x) {
				return false
			}
		}
		return cond()
	})
	synctest.Wait()
}

// synced reports whether x has ended a sync of the test room without error.
func synced(x *node) bool { return !x.sy.Status(testRoom).LastSync.IsZero() }

// PeerJoined syncs at once and again exactly Settle later: an event the
// peer learns in between (stored, not gossiped) arrives with the second
// sync and not before it; with the peer gone by then, there is no second
// sync (and no dial back to it).
func TestSettleSync(t *testing.T) {
	const settle = 3 * time.Second
	cfg := Config{Interval: -1, Settle: settle}
	dag := makeDAG(t, testRoom, 20, 2, 21)
	for _, gone := range []bool{false, true} {
		t.Run(fmt.Sprint("peer gone ", gone), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := simPair(t, cfg)
				load(t, b.store, dag[:10])
				connect(t, a.h, b.h)
				joined := time.Now()
				a.sy.PeerJoined(testRoom, b.h.ID())
				quiet(t, "the sync on joining to bring b's events", func() bool { return has(t, a, dag[:10]...) }, a, b)
				// A session refused as busy leaves a retry timer behind; let
				// it run now, or b's late retry (b pulls from a, and a, seeing
				// b ahead, pulls back) brings the late events before Settle.
				// a keeps one timer: the settle sync under test.
				testwait.For(t, time.Minute, "no retry pending", func() bool {
					return a.sy.timers.Pending() <= 1 && b.sy.timers.Pending() == 0
				})
				quiet(t, "the retries to end", func() bool { return true }, a, b)
				if time.Since(joined) >= settle {
					t.Fatalf("the first syncs took %v of virtual time, past Settle", time.Since(joined))
				}
				load(t, b.store, dag[10:])
				if gone {
					if err := a.h.Network().ClosePeer(b.h.ID()); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(settle - time.Since(joined) - time.Millisecond)
				synctest.Wait()
				if has(t, a, dag[10]) {
					t.Fatal("the event learnt after the first sync arrived before Settle")
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if got := has(t, a, dag[10:]...); got == gone {
					t.Fatalf("a minute after Settle, a has the late events: %v (peer gone: %v)", got, gone)
				}
				if gone && a.h.Network().Connectedness(b.h.ID()) == network.Connected {
					t.Fatal("the settle sync dialled a peer that had gone")
				}
			})
		})
	}
}

// With Interval set, each room is synced with a connected peer every
// Interval ± 25 %, and not sooner.
func TestPeriodicSync(t *testing.T) {
	const interval = 30 * time.Second
	synctest.Test(t, func(t *testing.T) {
		a, b := simPair(t, Config{Interval: interval, Settle: -1})
		dag := makeDAG(t, testRoom, 20, 2, 22)
		start := time.Now() // the periodic timers start with New
		connect(t, a.h, b.h)
		quiet(t, "the syncs on identification", func() bool { return synced(a) && synced(b) }, a, b)
		load(t, b.store, dag)
		time.Sleep(interval*3/4 - time.Since(start) - time.Millisecond)
		synctest.Wait()
		if has(t, a, dag[0]) {
			t.Fatal("synced before three quarters of Interval")
		}
		testwait.For(t, interval/2+time.Second, "the periodic sync to bring b's events", func() bool { return has(t, a, dag...) })
		if d := time.Since(start); d > interval*5/4+time.Second {
			t.Fatalf("the periodic sync came after %v, want at most %v", d, interval*5/4)
		}
	})
}

// A sync the peer refuses as busy (here: its one inbound slot is held)
// is retried until the peer is free, and what was asked for arrives.
func TestBusyRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := newSimHosts(t, 3)
		a := newNodeWith(t, Config{Interval: -1, Settle: -1}, newStore(t), hs[0])
		b := newNodeWith(t, Config{Interval: -1, Settle: -1, MaxInbound: 1, Timeout: time.Hour}, newStore(t), hs[1])
		m := hs[2]
		dag := makeDAG(t, testRoom, 20, 2, 23)
		load(t, b.store, dag)
		connect(t, m, b.h)
		hold, err := m.NewStream(t.Context(), b.h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hold.Write([]byte{100}); err != nil { // a frame's length: b waits for the rest
			t.Fatal(err)
		}
		connect(t, a.h, b.h) // a syncs on identification, and is refused
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if has(t, a, dag[0]) {
			t.Fatal("synced while b's only inbound slot was held")
		}
		if st := a.sy.Status(testRoom); !strings.Contains(st.LastError, "busy") && !strings.Contains(st.LastError, "too many") {
			t.Fatalf("a's last error %q, want b's refusal", st.LastError)
		}
		if err := hold.Reset(); err != nil {
			t.Fatal(err)
		}
		released := time.Now()
		testwait.For(t, time.Minute, "the retried sync to bring b's events", func() bool { return has(t, a, dag...) })
		longest := time.Duration(float64(busyRetry.Max) * (1 + busyRetry.Jitter))
		if d := time.Since(released); d > longest+time.Second {
			t.Fatalf("the events came %v after b was free, want within a busy retry (at most %v)", d, longest)
		}
	})
}

// A background session stopped by MaxEventsPerSession continues a second
// later where it stopped, until the room is complete.
func TestLimitContinues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := newSimHosts(t, 2)
		// a only serves: its own sync of b would make b sync back at once.
		a := newNodeWith(t, manual(), newStore(t), hs[0])
		b := newNodeWith(t, Config{Interval: -1, Settle: -1, MaxEventsPerSession: 100, MaxBatch: 50}, newStore(t), hs[1])
		dag := makeDAG(t, testRoom, 300, 2, 24)
		load(t, a.store, dag)
		start := time.Now()
		connect(t, b.h, a.h) // b syncs on identification
		testwait.For(t, time.Minute, "b to hold the whole room", func() bool { return count(t, b.store) == len(dag) })
		// Three sessions of 100, two pauses of a second between them.
		if d := time.Since(start); d < 2*time.Second || d > 3*time.Second {
			t.Fatalf("b had the room after %v, want two one-second pauses and little else", d)
		}
		if st := b.sy.Status(testRoom); st.Sessions < 3 || st.EventsFetched != uint64(len(dag)) {
			t.Fatalf("status %+v, want 3 sessions fetching %d events", st, len(dag))
		}
		verify(t, b.store)
	})
}
