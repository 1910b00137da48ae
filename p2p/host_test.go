package p2p

import (
	"testing"

	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/parley-chat/parley/p2p/keyx"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// TestResourceLimitsHaveSync: the host's limits give ledger sync's service
// scope its own stream and memory limits, in all and per peer, whether
// autoscaled or sized for a bootstrap node.
func TestResourceLimitsHaveSync(t *testing.T) {
	for _, cfg := range []Config{{}, {ResourceMemory: BootstrapResourceMemory, ResourceFDs: BootstrapResourceFDs}} {
		l := resourceLimits(cfg).ToPartialLimitConfig()
		svc, ok := l.Service[ledgersync.ServiceName]
		if !ok || svc.StreamsInbound == rcmgr.DefaultLimit || svc.Memory == rcmgr.DefaultLimit64 {
			t.Fatalf("memory %d: service limits %+v", cfg.ResourceMemory, svc)
		}
		peer, ok := l.ServicePeer[ledgersync.ServiceName]
		if !ok || peer.StreamsInbound != 8 || peer.Memory != 16<<20 {
			t.Fatalf("memory %d: per-peer service limits %+v, want 8 inbound streams and 16 MiB", cfg.ResourceMemory, peer)
		}
	}
}

// TestResourceLimitsHaveKeys: key exchange has its own service scope,
// two inbound streams per peer.
func TestResourceLimitsHaveKeys(t *testing.T) {
	l := resourceLimits(Config{}).ToPartialLimitConfig()
	if peer, ok := l.ServicePeer[keyx.ServiceName]; !ok || peer.StreamsInbound != 2 {
		t.Fatalf("per-peer %s limits %+v, want 2 inbound streams", keyx.ServiceName, peer)
	}
	if peer, ok := l.ServicePeer[E2EEServiceName]; !ok || peer.StreamsInbound != 2 {
		t.Fatalf("per-peer %s limits %+v, want 2 inbound streams", E2EEServiceName, peer)
	}
}
