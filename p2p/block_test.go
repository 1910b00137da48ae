package p2p_test

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// TestBlockRefusesRedial: Block closes a peer's connections, and until it
// expires the peer's redials are refused after the handshake and we do not
// dial it either; then both work again.
func TestBlockRefusesRedial(t *testing.T) {
	const blockFor = 1500 * time.Millisecond
	a, b := newNode(t, testConfig()), newNode(t, testConfig())
	connect(t, b, a)
	blocked := time.Now() // before Block: its end is counted from inside it, and ClosePeer takes a while
	a.Block(b.Self(), blockFor)
	testwait.For(t, 5*time.Second, "the blocked peer disconnected", func() bool {
		return a.Host().Network().Connectedness(b.Self()) != network.Connected
	})
	dial := func(from, to *p2p.Node) error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return from.Connect(ctx, to.Addrs()[0])
	}
	if err := dial(b, a); err == nil && a.Host().Network().Connectedness(b.Self()) == network.Connected {
		t.Fatal("the blocked peer redialled")
	}
	if err := dial(a, b); err == nil {
		t.Fatal("dialled a blocked peer")
	}
	if !a.Blocked(b.Self()) || time.Since(blocked) >= blockFor {
		t.Skipf("the dials took %v, past the block: too slow a machine to tell", time.Since(blocked))
	}
	testwait.For(t, 10*time.Second, "the peer connected again", func() bool {
		return dial(b, a) == nil && a.Host().Network().Connectedness(b.Self()) == network.Connected
	})
	if d := time.Since(blocked); d < blockFor {
		t.Fatalf("redial accepted %v after the block, which lasts %v", d, blockFor)
	}
}
