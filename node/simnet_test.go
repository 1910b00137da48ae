package node_test

import (
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"

	"github.com/parley-chat/parley/node"
)

// startSimNodes starts n nodes for a test inside a testing/synctest
// bubble: each on a host that speaks QUIC over one simnet (an in-memory
// network whose delays are timers), with an in-memory datastore and no
// RPC server, so that nothing waits on a real socket or an fsync and
// every timer of the node runs on virtual time. The nodes are closed,
// then the network, when the test ends.
func startSimNodes(t *testing.T, n int, mod ...func(*node.Options)) []*node.Node {
	t.Helper()
	nw := &simnet.Simnet{LatencyFunc: simnet.StaticLatency(5 * time.Millisecond)}
	link := simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
		Uplink:   simnet.LinkSettings{BitsPerSecond: 100 * simlibp2p.OneMbps},
	}
	nodes := make([]*node.Node, n)
	for i := range nodes {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", simnet.IntToPublicIPv4(i))),
			libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
			simlibp2p.QUICSimnet(nw, link),
			libp2p.DisableIdentifyAddressDiscovery(), // stalls synctest (see simlibp2p)
			libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.DisableRelay(), libp2p.DisableMetrics(),
		)
		if err != nil {
			t.Fatal(err)
		}
		opts := node.Options{DataDir: t.TempDir(), Config: testConfig(), Host: h, NoRPC: true,
			Datastore: dssync.MutexWrap(ds.NewMapDatastore())}
		for _, m := range mod {
			m(&opts)
		}
		nd, err := node.New(t.Context(), opts)
		if err != nil {
			t.Fatalf("start node: %v", err)
		}
		nodes[i] = nd
	}
	nw.Start()
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.Close()
		}
		nw.Close()
	})
	return nodes
}
