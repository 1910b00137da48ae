package ledgersync

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/marcopolo/simnet"

	"github.com/parley-chat/parley/internal/testwait"
)

// TestHelloAmplificationBounded plays the amplification attack: 16 hosts,
// each on its own /24 of a simulated network, open sessions at a fixed 8/s
// each, every one a Hello of a few dozen bytes asking for the whole room
// (count-0 fingerprint: "send me everything"). The responder's x/rate
// limiter (DefaultRateLimit: 40/s, burst 80 in all; 4/s, burst 16 per /24)
// admits at most 80 + 40·T sessions in T seconds, each answering at most
// the room (S bytes): what it sends stays ≤ (80 + 40·T)·S, 40·S/s
// sustained, whatever the attackers' number. An honest peer that joins
// during the attack, which goes on until it has synced (and for 5 s at
// least), still syncs the room: a rate-limited session is retried like a
// busy one, every 300-600 ms, and some tries win a token (bound 20 s;
// 0.6-4 s seen).
func TestHelloAmplificationBounded(t *testing.T) {
	const (
		attackers = 16
		perSec    = 8 // sessions each attacker opens per second
		attack    = 5 * time.Second
	)
	synctest.Test(t, func(t *testing.T) {
		// Host i on 1.0.i.1: a /24 each.
		hs := newSimHostsAt(t, attackers+2, func(i int) net.IP { return simnet.IntToPublicIPv4(i << 8) })
		var sessions, sent atomic.Int64
		var most atomic.Int64
		srv := newNodeWith(t, Config{Manual: true, OnSession: func(out bool, st Stats, _ error) {
			if !out {
				sessions.Add(1)
				sent.Add(int64(st.BytesSent))
				for m := most.Load(); int64(st.BytesSent) > m && !most.CompareAndSwap(m, int64(st.BytesSent)); m = most.Load() {
				}
			}
		}}, newStore(t), hs[0])
		dag := makeDAG(t, testRoom, 100, 3, 51)
		load(t, srv.store, dag)
		room := int64(size(dag))
		hello := frameBytes(&frame{typ: frameHello, room: testRoom, fp: fp16{}})

		// one session: Hello, then read the answer to its end.
		one := func(m host.Host) bool {
			s, err := m.NewStream(t.Context(), srv.h.ID(), ProtocolID)
			if err != nil {
				return false
			}
			defer s.Reset()
			if _, err := s.Write(hello); err != nil {
				return false
			}
			_ = s.CloseWrite()
			n, _ := io.Copy(io.Discard, s)
			return n > 0
		}
		for _, m := range hs[2:] {
			connect(t, m, srv.h)
		}
		if !one(hs[2]) {
			t.Fatal("the first session was not answered")
		}
		perSession := most.Load() // S: a whole-room answer
		start := time.Now()
		stop := make(chan struct{}) // the attack runs until closed
		var wg sync.WaitGroup
		var answered atomic.Int64
		for i, m := range hs[2:] {
			wg.Go(func() {
				// Staggered, so that sessions arrive evenly and take each
				// token as it refills, leaving none for an honest peer.
				time.Sleep(time.Duration(i) * time.Second / perSec / attackers)
				tick := time.NewTicker(time.Second / perSec)
				defer tick.Stop()
				for {
					wg.Go(func() {
						if one(m) {
							answered.Add(1)
						}
					})
					select {
					case <-tick.C:
					case <-stop:
						return
					}
				}
			})
		}
		// An honest peer on its own /24 joins a second into the attack and
		// syncs on identification.
		time.Sleep(time.Second)
		honest := newNodeWith(t, Config{Interval: -1, Settle: -1}, newStore(t), hs[1])
		connect(t, honest.h, srv.h)
		joined := time.Now()
		testwait.For(t, time.Minute, "the honest peer to hold the room", func() bool { return count(t, honest.store) == len(dag) })
		took := time.Since(joined)
		time.Sleep(attack - time.Since(start)) // at least that long in all
		close(stop)
		wg.Wait()
		elapsed := time.Since(start)
		synctest.Wait()

		tried := int64(attackers * perSec * elapsed.Seconds())
		bound := (80 + 40*elapsed.Seconds()) * float64(perSession)
		t.Logf("room %d B in %d events, Hello %d B, whole-room answer S = %d B (%.0f×)", room, len(dag), len(hello), perSession, float64(perSession)/float64(len(hello)))
		t.Logf("%d attackers tried ~%d sessions in %v: %d served in all (%d answered to attackers); responder sent %.2f MB = %.0f KB/s (bound (80+40·T)·S = %.2f MB); honest peer synced %v after joining",
			attackers, tried, elapsed.Round(time.Millisecond), sessions.Load(), answered.Load(), float64(sent.Load())/1e6, float64(sent.Load())/elapsed.Seconds()/1e3, bound/1e6, took.Round(time.Millisecond))
		if float64(sent.Load()) > bound {
			t.Fatalf("responder sent %d bytes in %v, bound %.0f", sent.Load(), elapsed, bound)
		}
		if sessions.Load() >= tried/2 {
			t.Fatalf("%d of ~%d sessions served: the limiter is not limiting", sessions.Load(), tried)
		}
		if took > 20*time.Second {
			t.Fatalf("the honest peer synced %v after joining, want within 20 s", took)
		}
	})
}
