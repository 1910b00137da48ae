package p2p

import (
	"testing"
	"time"
)

// withDefaults fills the zeros that mean nothing and keeps those that mean
// something, then applies the Bootstrap fallbacks.
func TestConfigWithDefaults(t *testing.T) {
	d := DefaultConfig()
	c := Config{RoomMinPeers: 0, ReconnectPeers: 0}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("zero Config after withDefaults: %v", err)
	}
	if c.DHTMode != DHTModeAuto || c.SeenTTL != d.SeenTTL || c.MeshDegree != d.MeshDegree ||
		c.BootstrapBackoffMin != d.BootstrapBackoffMin || c.DiscoveryBackoffMax != d.DiscoveryBackoffMax {
		t.Errorf("zero fields not filled: %+v", c)
	}
	if len(c.ListenAddrs) != 0 || c.MDNS || c.NATPortMap || c.RoomMinPeers != 0 || c.ReconnectPeers != 0 || c.ValidateTimeout != 0 {
		t.Errorf("meaningful zeros changed: %+v", c)
	}
	if c := (Config{SeenTTL: 7 * time.Second}).withDefaults(); c.SeenTTL != 7*time.Second {
		t.Errorf("set field overwritten: %v", c.SeenTTL)
	}
	b := Config{Bootstrap: true}.withDefaults()
	if b.DHTMode != DHTModeServer || b.ForceReachability != ReachabilityPublic || b.ResourceMemory != BootstrapResourceMemory {
		t.Errorf("bootstrap fallbacks: %+v", b)
	}
}
