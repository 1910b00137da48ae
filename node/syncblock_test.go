package node_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// TestSyncMisbehaverBlockedAtGater: a raw peer that sends a malformed sync
// frame is disconnected and blocked at the connection gater: its redials
// fail for the whole of ledgersync's BlockFor, and succeed once it is over.
func TestSyncMisbehaverBlockedAtGater(t *testing.T) {
	const blockFor = 2 * time.Second
	n := startNode(t, "", func(o *node.Options) {
		o.Sync = func(c *ledgersync.Config) { c.BlockFor = blockFor }
	})
	info, err := n.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromString(info.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// redial connects afresh and opens a sync stream: what a blocked peer
	// must not manage.
	redial := func() error {
		_ = h.Network().ClosePeer(ai.ID)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		if err := h.Connect(ctx, *ai); err != nil {
			return err
		}
		s, err := h.NewStream(ctx, ai.ID, ledgersync.ProtocolID)
		if err != nil {
			return err
		}
		return s.Reset()
	}
	if err := redial(); err != nil {
		t.Fatalf("first dial: %v", err)
	}

	s, err := h.NewStream(t.Context(), ai.ID, ledgersync.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()                                                                       // the block starts after this
	if _, err := s.Write(binary.AppendUvarint(nil, ledgersync.MaxFrameSize+1)); err != nil { // a length over the limit
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the misbehaving peer disconnected", func() bool {
		return n.P2P().Host().Network().Connectedness(h.ID()) != network.Connected
	})
	blocked := time.Now()
	if !n.P2P().Blocked(h.ID()) {
		t.Fatal("not blocked at the gater")
	}
	for i := 0; time.Since(blocked) < blockFor*3/4; i++ {
		if err := redial(); err == nil {
			t.Fatalf("redial %d, %v after the block: a sync stream opened", i, time.Since(blocked))
		}
	}
	testwait.For(t, 10*time.Second, "a redial after the block", func() bool { return redial() == nil })
	if d := time.Since(sent); d < blockFor {
		t.Fatalf("redial accepted %v after the violation, the block lasts %v", d, blockFor)
	}
}
