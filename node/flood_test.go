package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// A peer that opens sync streams and never finishes them is held: the
// sync handler serves at most 16 sessions at once and refuses the rest,
// and the resource manager and yamux bound what reaches it, while the node
// keeps serving honest members (a message still crosses).
func TestStreamFloodIsHeld(t *testing.T) {
	a, b := startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	joinAll(t, a, b)

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	binfo, _ := b.Info(t.Context())
	ai, _ := peer.AddrInfoFromString(binfo.Addrs[0])
	if err := h.Connect(t.Context(), *ai); err != nil {
		t.Fatal(err)
	}

	const tries = 2000
	opened, refused := 0, 0
	var streams []network.Stream
	for range tries {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		s, err := h.NewStream(ctx, ai.ID, ledgersync.ProtocolID)
		cancel()
		if err != nil {
			refused++
			continue
		}
		// Start a frame and never finish it: B's handler waits for the
		// rest, so each accepted stream stays open on B.
		if _, err := s.Write([]byte{100}); err != nil {
			refused++
			continue
		}
		streams = append(streams, s)
		opened++
	}
	// What B holds for the attacker, once its side has caught up: a ping
	// on the same connection is answered only after B's swarm has taken
	// in every stream opened before it (yamux and the swarm accept them in
	// order). B's resource manager may refuse a ping while it still holds
	// streams it is about to close, so ask until one is answered.
	testwait.For(t, 10*time.Second, "a ping answered by B after the flood", func() bool {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		return (<-ping.Ping(ctx, h, ai.ID)).Error == nil
	})
	held := 0
	for _, c := range b.P2P().Host().Network().ConnsToPeer(h.ID()) {
		held += len(c.GetStreams())
	}
	t.Logf("attacker tried %d streams (%d opened on its side, %d refused there); B holds %d", tries, opened, refused, held)
	if held >= tries/2 {
		t.Fatalf("B holds %d of %d attacker streams: nothing holds a stream flood", held, tries)
	}

	// Honest traffic still flows.
	if _, err := a.Chat().Send(t.Context(), "general", "still here"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "honest message at B during the flood", func() bool {
		return hasText(history(t, b, "general"), "still here")
	}, syncState(a, b))
	for _, s := range streams {
		s.Reset()
	}
}
