package node_test

import (
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"

	"github.com/parley-chat/parley/node"
)

// simNet is a simulated network for tests inside a testing/synctest
// bubble: its hosts speak QUIC over simnet (an in-memory network whose
// delays are timers), and its nodes use an in-memory datastore and no RPC
// server, so that nothing waits on a real socket or an fsync and every
// timer of the node runs on virtual time.
type simNet struct {
	nw    *simnet.Simnet
	link  simnet.NodeBiDiLinkSettings
	hosts int
}

// newSimNet starts a network that closes when the test ends (after the
// hosts and nodes on it, which were started later).
func newSimNet(t *testing.T) *simNet {
	t.Helper()
	s := &simNet{
		nw: &simnet.Simnet{LatencyFunc: simnet.StaticLatency(5 * time.Millisecond)},
		link: simnet.NodeBiDiLinkSettings{
			Downlink: simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
			Uplink:   simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
		},
	}
	s.nw.Start()
	t.Cleanup(s.nw.Close)
	return s
}

// host starts a host on the network with opts added (QUIC only, no relay,
// null resource manager). The caller owns it.
func (s *simNet) host(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	return s.hostAt(t, s.hosts, opts...)
}

// hostAt is host at the address simnet numbers n (IntToPublicIPv4);
// consecutive numbers share a /24.
func (s *simNet) hostAt(t *testing.T, n int, opts ...libp2p.Option) host.Host {
	t.Helper()
	ip := simnet.IntToPublicIPv4(n)
	s.hosts++
	h, err := libp2p.New(append([]libp2p.Option{
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", ip)),
		libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
		simlibp2p.QUICSimnet(s.nw, s.link),
		libp2p.DisableIdentifyAddressDiscovery(), // stalls synctest (see simlibp2p)
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(), libp2p.DisableMetrics(),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// node starts a node on a new host of the network, closed when the test
// ends.
func (s *simNet) node(t *testing.T, mod ...func(*node.Options)) *node.Node {
	t.Helper()
	return s.nodeOn(t, s.host(t), mod...)
}

// nodeOn is node on host h.
func (s *simNet) nodeOn(t *testing.T, h host.Host, mod ...func(*node.Options)) *node.Node {
	t.Helper()
	opts := node.Options{DataDir: t.TempDir(), Config: testConfig(), Host: h, NoRPC: true,
		Datastore: dssync.MutexWrap(ds.NewMapDatastore())}
	for _, m := range mod {
		m(&opts)
	}
	nd, err := node.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { nd.Close() })
	return nd
}
