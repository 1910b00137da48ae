package ledgersync

import (
	"log/slog"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-chat/parley/internal/testwait"
)

// Close stops the syncer's pending timers (here the settle sync after a
// peer joined), so that a closed Syncer, with its store, is not kept
// reachable by them once its host is closed too (as a node closes both).
func TestClosedSyncerNotHeldByTimers(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	other := newHost(t)
	sy, err := New(h, newStore(t), Config{Settle: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sy.PeerJoined(testRoom, other.ID()) // a sync now, and one in an hour
	if err := sy.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	held := weak.Make(sy)
	sy, h = nil, nil
	// Goroutines that were ending at Close may hold it a moment longer;
	// a pending timer would hold it for good.
	testwait.For(t, 5*time.Second, "the closed Syncer to be collected (a pending settle timer would hold it)", func() bool {
		runtime.GC()
		return held.Value() == nil
	})
}
