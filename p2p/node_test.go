package p2p_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*p2p.Config)
		ok   bool
	}{
		{"default", func(*p2p.Config) {}, true},
		{"test", func(c *p2p.Config) { *c = testConfig() }, true},
		{"no listen", func(c *p2p.Config) { c.ListenAddrs = nil }, true},
		{"bad listen", func(c *p2p.Config) { c.ListenAddrs = []string{"127.0.0.1:4747"} }, false},
		{"bad dht mode", func(c *p2p.Config) { c.DHTMode = "fast" }, false},
		{"bootstrap without peer id", func(c *p2p.Config) { c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4747"} }, false},
		{"low above high", func(c *p2p.Config) { c.ConnMgrLow, c.ConnMgrHigh = 10, 5 }, false},
		{"zero backoff", func(c *p2p.Config) { c.BootstrapBackoffMin = 0 }, false},
		{"zero relay retry", func(c *p2p.Config) { c.RelayRetry = 0 }, false},
		{"zero seen ttl", func(c *p2p.Config) { c.SeenTTL = 0 }, false},
		{"seen ttl under gossip window", func(c *p2p.Config) { c.SeenTTL = time.Second }, false},
		{"mesh degree 2", func(c *p2p.Config) { c.MeshDegree = 2 }, true},
		{"mesh degree 12", func(c *p2p.Config) { c.MeshDegree = 12 }, true},
		{"mesh degree 1", func(c *p2p.Config) { c.MeshDegree = 1 }, false},
		{"mesh degree 13", func(c *p2p.Config) { c.MeshDegree = 13 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p2p.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, p2p.ErrInvalidConfig) {
				t.Fatalf("Validate: got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestDefaultConfigHasNoPeers(t *testing.T) {
	if cfg := p2p.DefaultConfig(); len(cfg.BootstrapPeers) != 0 {
		t.Fatalf("DefaultConfig has built-in bootstrap peers: %v", cfg.BootstrapPeers)
	}
}

func TestConnectErrors(t *testing.T) {
	n := newNode(t, testConfig())
	other := newKey(t)
	otherID, err := peer.IDFromPrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr string
		want       error
	}{
		{"not a multiaddr", "not-a-multiaddr", p2p.ErrBadAddr},
		{"host:port", "127.0.0.1:4747", p2p.ErrBadAddr},
		{"no peer id", "/ip4/127.0.0.1/tcp/4747", p2p.ErrNoPeerID},
		{"self", n.Addrs()[0], p2p.ErrSelf},
		{"nobody listening", "/ip4/127.0.0.1/tcp/1/p2p/" + otherID.String(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := n.Connect(ctx, tc.addr)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Connect: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAddrsAndPeers(t *testing.T) {
	a, b := newNode(t, testConfig()), newNode(t, testConfig())
	for _, s := range a.Addrs() {
		if !strings.HasPrefix(s, "/ip4/127.0.0.1/") || !strings.HasSuffix(s, "/p2p/"+a.Self().String()) {
			t.Errorf("address %q: want /ip4/127.0.0.1/.../p2p/%s", s, a.Self())
		}
	}
	if len(a.Addrs()) != 2 {
		t.Errorf("got %d addresses, want 2 (TCP and QUIC): %v", len(a.Addrs()), a.Addrs())
	}
	connect(t, a, b)
	peers := a.Peers()
	if len(peers) != 1 || peers[0].ID != b.Self() || len(peers[0].Addrs) == 0 {
		t.Fatalf("Peers: got %+v, want B with its address", peers)
	}
}

// TestBootstrap checks that a node dials its configured bootstrap peer by
// itself and keeps it protected.
func TestBootstrap(t *testing.T) {
	boot := newNode(t, testConfig())
	cfg := testConfig()
	cfg.BootstrapPeers = boot.Addrs()
	n := newNode(t, cfg)
	testwait.For(t, 10*time.Second, "bootstrap connection", func() bool {
		return len(n.Peers()) == 1 && n.Peers()[0].ID == boot.Self()
	})
	if !n.Host().ConnManager().IsProtected(boot.Self(), "") {
		t.Error("bootstrap peer is not protected in the connection manager")
	}
	testwait.For(t, 10*time.Second, "bootstrap peer in DHT routing table", func() bool {
		return n.DHT().RoutingTable().Find(boot.Self()) != ""
	})
}

func TestNewWithMocknet(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	var nodes []*p2p.Node
	for range 2 {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		n, err := p2p.NewWithHost(t.Context(), h, testConfig())
		if err != nil {
			t.Fatalf("NewWithHost: %v", err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	t0, _ := join(t, nodes[0], room, "")
	t1, box1 := join(t, nodes[1], room, "")
	waitTopicPeers(t, t0, nodes[1].Self())
	waitTopicPeers(t, t1, nodes[0].Self())
	if err := t0.Publish(t.Context(), []byte("over mocknet")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	testwait.For(t, 10*time.Second, "mocknet delivery", func() bool { return box1.count("over mocknet") == 1 })
}

// With a Registerer, a node counts the gossip copies it drops as already
// seen: in a fully connected room of three, once the mesh has formed,
// each message reaches a receiver from the publisher and again from the
// third node.
func TestGossipDuplicatesCounted(t *testing.T) {
	var nodes []*p2p.Node
	var regs []*prometheus.Registry
	for range 3 {
		cfg := testConfig()
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		nodes, regs = append(nodes, newNode(t, cfg)), append(regs, reg)
	}
	connect(t, nodes[0], nodes[1])
	connect(t, nodes[0], nodes[2])
	connect(t, nodes[1], nodes[2])
	t0, _ := join(t, nodes[0], room, "")
	t1, box1 := join(t, nodes[1], room, "")
	t2, box2 := join(t, nodes[2], room, "")
	waitTopicPeers(t, t0, nodes[1].Self(), nodes[2].Self())
	waitTopicPeers(t, t1, nodes[0].Self(), nodes[2].Self())
	waitTopicPeers(t, t2, nodes[0].Self(), nodes[1].Self())
	warmUp(t, t0, box1, box2)
	duplicates := func() (sum float64) {
		for _, reg := range regs {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "parley_gossip_duplicates_total" {
					sum += mf.GetMetric()[0].GetCounter().GetValue()
				}
			}
		}
		return sum
	}
	// The relays forward only to their mesh, which forms at the first
	// heartbeats (warmUp's copies came straight from the publisher).
	before, i := duplicates(), 0
	testwait.For(t, 15*time.Second, "duplicate copies counted", func() bool {
		i++
		if err := t0.Publish(t.Context(), fmt.Appendf(nil, "dup %d", i)); err != nil {
			t.Fatal(err)
		}
		return duplicates() >= before+10
	})
}

// Every mesh degree Validate accepts gives gossipsub parameters it accepts
// too (it checks D, Dlo, Dhi, Dout and Dscore against each other).
func TestMeshDegreesStart(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	for d := 2; d <= 12; d++ {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.MeshDegree = d
		n, err := p2p.NewWithHost(t.Context(), h, cfg)
		if err != nil {
			t.Fatalf("mesh degree %d: %v", d, err)
		}
		n.Close()
	}
}

func TestNewFailsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig()
	cfg.DHTMode = "bogus"
	if _, err := p2p.New(t.Context(), newKey(t), cfg); !errors.Is(err, p2p.ErrInvalidConfig) {
		t.Fatalf("New with a bad config: got %v, want ErrInvalidConfig", err)
	}
	// A transport we do not run: the host cannot listen, New must fail.
	cfg = testConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/webrtc-direct"}
	if n, err := p2p.New(t.Context(), newKey(t), cfg); err == nil {
		n.Close()
		t.Fatal("New succeeded without a usable listen address")
	}
	waitNoGoroutines(t, before)
}

func TestCloseIsIdempotentAndStopsEverything(t *testing.T) {
	// Warm up process-wide lazy state (metrics, resolvers) first.
	warm := newNode(t, testConfig())
	warm.Close()
	before := runtime.NumGoroutine()

	boot, err := p2p.New(t.Context(), newKey(t), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.BootstrapPeers = boot.Addrs()
	n, err := p2p.New(t.Context(), newKey(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	box := &inbox{}
	tp, err := n.JoinTopic(room, box.validate, box.deliver)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "bootstrap connection", func() bool { return len(n.Peers()) == 1 })

	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Topic.Close after Node.Close: %v", err)
	}
	if _, err := n.JoinTopic("/parley/room/other", box.validate, box.deliver); !errors.Is(err, p2p.ErrClosed) {
		t.Fatalf("JoinTopic after Close: got %v, want ErrClosed", err)
	}
	if err := boot.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitNoGoroutines(t, before)
}

// waitNoGoroutines waits until no goroutine runs code of this package,
// pubsub or the DHT, and the goroutine count is back near before.
func waitNoGoroutines(t *testing.T, before int) {
	t.Helper()
	const slack = 5
	var stacks string
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		ours := strings.Contains(stacks, "parley/p2p.") ||
			strings.Contains(stacks, "go-libp2p-pubsub") ||
			strings.Contains(stacks, "go-libp2p-kad-dht")
		if !ours && runtime.NumGoroutine() <= before+slack {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("goroutines left running (before %d, now %d):\n%s", before, runtime.NumGoroutine(), stacks)
		case <-tick.C:
		}
	}
}
