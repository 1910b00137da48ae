package p2p_test

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// TestSetRendezvousStopsOldRecord: a topic's members meet under the
// rendezvous string given at join, and SetRendezvous moves them to a new
// one without leaving the topic: a DHT node (here one whose provider
// records last 1.5 s, re-advertised every 300 ms) keeps the old record
// alive while it is advertised, sees the new one after the change, and
// the old one lapses because it is no longer advertised; a member that
// knows only the new string finds the node by it.
func TestSetRendezvousStopsOldRecord(t *testing.T) {
	const validity = 1500 * time.Millisecond
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(p2p.DHTProtocolPrefix),
		dht.ProviderManagerOpts(records.ProvideValidity(validity)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var dhtAddrs []string
	for _, a := range h.Addrs() {
		dhtAddrs = append(dhtAddrs, a.String()+"/p2p/"+h.ID().String())
	}
	userCfg := func() p2p.Config {
		cfg := testConfigMode(p2p.DHTModeClient)
		cfg.BootstrapPeers = dhtAddrs
		fastDiscovery(&cfg)
		cfg.ReadvertiseInterval = 300 * time.Millisecond
		return cfg
	}
	providers := func(rv string) []peer.ID {
		k, err := mh.Sum([]byte(rv), mh.SHA2_256, -1) // RoutingDiscovery's key for rv
		if err != nil {
			t.Fatal(err)
		}
		infos, err := d.ProviderStore().GetProviders(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		var ids []peer.ID
		for _, ai := range infos {
			ids = append(ids, ai.ID)
		}
		return ids
	}

	a := newNode(t, userCfg())
	box := &inbox{}
	ta, err := a.JoinTopic("/parley/room/rotating", box.validate, box.deliver, p2p.WithRendezvous("epoch-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ta.Close() })
	testwait.For(t, 20*time.Second, "a's record under epoch-1", func() bool {
		return slices.Contains(providers("epoch-1"), a.Self())
	})
	if got := providers("/parley/room/rotating"); len(got) != 0 {
		t.Fatalf("the topic name was advertised too: %v", got)
	}
	// Re-advertised, the record outlives its validity.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(2 * validity); time.Now().Before(end); <-tick.C {
		if !slices.Contains(providers("epoch-1"), a.Self()) {
			t.Fatal("a's record under epoch-1 lapsed while advertised")
		}
	}

	ta.SetRendezvous("epoch-2")
	testwait.For(t, 10*time.Second, "a's record under epoch-2", func() bool {
		return slices.Contains(providers("epoch-2"), a.Self())
	})
	testwait.For(t, 4*validity, "a's record under epoch-1 to lapse", func() bool {
		return !slices.Contains(providers("epoch-1"), a.Self())
	})

	// A member that knows only the new string finds a by it.
	b := newNode(t, userCfg())
	tb, _ := func() (p2p.Topic, *inbox) {
		box := &inbox{}
		tp, err := b.JoinTopic("/parley/room/rotating", box.validate, box.deliver, p2p.WithRendezvous("epoch-2"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tp.Close() })
		return tp, box
	}()
	waitTopicPeers(t, tb, a.Self())
}
