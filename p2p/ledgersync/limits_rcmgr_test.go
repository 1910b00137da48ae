package ledgersync

import (
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-chat/parley/ledger"
)

// newLimitedHost is newHost with a resource manager holding the sync
// service's limits (AddServiceLimits), then mod's changes.
func newLimitedHost(t *testing.T, mod func(*rcmgr.ScalingLimitConfig)) (host.Host, network.ResourceManager) {
	t.Helper()
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	AddServiceLimits(&limits)
	if mod != nil {
		mod(&limits)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(1<<30, 1024)), rcmgr.WithMetricsDisabled())
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics(), libp2p.ResourceManager(rm))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, rm
}

// syncMemory is what the sync service scope holds now.
func syncMemory(t *testing.T, rm network.ResourceManager) int64 {
	t.Helper()
	var mem int64
	if err := rm.ViewService(ServiceName, func(s network.ServiceScope) error {
		mem = s.Stat().Memory
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return mem
}

// TestFrameMemoryReserved: frames over 64 KiB are reserved in the sync
// service's scope before they are read. A requester that sends a frame
// larger than its per-peer allowance (1 MiB here) gets a limit error and
// the frame is not read; an honest sync of 1 MiB event frames, with both
// sides under the real limits, completes; and every reservation is
// released when the sessions end.
func TestFrameMemoryReserved(t *testing.T) {
	dag := makeDAG(t, testRoom, 3, 1, 41)
	ha, rma := newLimitedHost(t, func(c *rcmgr.ScalingLimitConfig) {
		c.AddServicePeerLimit(ServiceName, rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 1 << 20}, rcmgr.BaseLimitIncrease{})
	})
	a := newNodeWith(t, manual(), newStore(t), ha)
	load(t, a.store, dag)

	m := newHost(t)
	connect(t, m, a.h)
	s, c := openSession(t, m, a.h.ID(), 5*time.Second)
	const big = 1536 << 10 // under MaxFrameSize, over the 1 MiB allowance
	before := a.sy.Usage().Received
	body := make([]byte, big)
	_, _ = rand.Read(body)
	// The write blocks once yamux's window is full: the responder does not
	// read the frame.
	go s.Write(append(binary.AppendUvarint(nil, big), body...))
	f, err := c.next()
	if err != nil || f.typ != frameError || f.code != codeLimit {
		t.Fatalf("got %+v, %v; want an Error frame with the limit code", f, err)
	}
	if got := a.sy.Usage().Received - before; got >= big {
		t.Fatalf("the responder read %d bytes of a %d-byte frame it could not reserve", got, big)
	}
	if a.bad.count(m.ID()) != 0 {
		t.Fatal("a frame over the memory limit counted as misbehaviour")
	}

	// An honest catch-up in 1 MiB event frames, both sides limited.
	const n = 120 // × ~24 KiB events: 3 frames
	key := testKey(t)
	var evs []*ledger.Event
	for i := range n {
		bodyi := make([]byte, 24<<10)
		bodyi[0], bodyi[1] = byte(i), byte(i>>8)
		ev, err := ledger.Sign(key, ledger.Draft{Room: testRoom, Kind: ledger.KindMsg, Body: bodyi, Time: time.UnixMilli(1700000000000 + int64(i)), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	hr, rmr := newLimitedHost(t, nil)
	hs, rms := newLimitedHost(t, nil)
	r := newNodeWith(t, manual(), newStore(t), hr)
	srv := newNodeWith(t, manual(), newStore(t), hs)
	if _, _, err := srv.store.led.Add(t.Context(), testRoom, evs...); err != nil {
		t.Fatal(err)
	}
	connect(t, r.h, srv.h)
	st, err := r.sy.Sync(t.Context(), srv.h.ID(), testRoom)
	if err != nil || count(t, r.store) != count(t, srv.store) {
		t.Fatalf("honest sync: %v, %d of %d events", err, count(t, r.store), count(t, srv.store))
	}
	t.Logf("honest sync: %d events, %d bytes in %d rounds", st.EventsReceived, st.BytesReceived, st.Rounds)
	s.Reset()
	for name, rm := range map[string]network.ResourceManager{"attacked": rma, "requester": rmr, "responder": rms} {
		if mem := syncMemory(t, rm); mem != 0 {
			t.Errorf("%s: %d bytes still reserved in %s after the sessions", name, mem, ServiceName)
		}
	}
}
