package p2p

import (
	"log/slog"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// dialAll and dialBootstrap count peers that were connected already (in
// their loop) and peers their dial goroutines connect, at the same time;
// under -race this caught the loop counting without the goroutines' lock.
func TestDialCountsConnectedAndDialled(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	var hosts []peer.AddrInfo
	for range 45 {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ListenAddrs, cfg.MDNS, cfg.NATPortMap = nil, false, false
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := NewWithHost(t.Context(), mn.Host(hosts[0].ID), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	// Connected already and not, interleaved, so the loop counts while
	// earlier dials finish.
	var known []KnownPeer
	for i, ai := range hosts[1:41] {
		if i%2 == 0 {
			if _, err := mn.ConnectPeers(hosts[0].ID, ai.ID); err != nil {
				t.Fatal(err)
			}
		}
		known = append(known, KnownPeer{ID: ai.ID, Addrs: ai.Addrs})
	}
	if got := n.dialAll(t.Context(), known); got != len(known) {
		t.Fatalf("dialAll: %d connected, want %d", got, len(known))
	}
	n.bootstrap = hosts[41:]
	if _, err := mn.ConnectPeers(hosts[0].ID, hosts[41].ID); err != nil {
		t.Fatal(err)
	}
	if connected, fresh := n.dialBootstrap(t.Context()); connected != 4 || fresh != 3 {
		t.Fatalf("dialBootstrap: %d connected, %d new; want 4 and 3", connected, fresh)
	}
}
