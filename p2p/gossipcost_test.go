package p2p_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/p2p"
)

// Misbehaviour costs the misbehaver. The peers run on a simulated network
// (x/simlibp2p in a testing/synctest bubble), each in its own /24, since
// gossipsub's IP colocation score and the peer gater work per address and
// loopback is exempt from the first and one address for the second.

// A peer forwarding invalid messages (what every honest forwarder must
// have checked: a bad signature, the wrong room; here what the test's
// validator rejects) is graylisted by the 6th: 5 leave it able to publish,
// after the 6th none of its RPCs is processed.
func TestInvalidGossipGraylistsSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newGossipNet(t)
		reg := prometheus.NewRegistry()
		v := net.node(t, 0, func(c *p2p.Config) { c.Registerer = reg })
		box := &verdictBox{}
		tp, err := v.JoinTopic("room", box.validate, box.deliver)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		attacker := net.rawPeer(t, v, 2, "room")
		self := attacker.host

		send := func(data string) {
			t.Helper()
			if err := attacker.topic.Publish(t.Context(), []byte(data)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // past the link delay
			synctest.Wait()
		}
		for i := range 5 {
			send(fmt.Sprintf("bad %d", i))
		}
		if got := box.seen("bad"); got != 5 {
			t.Fatalf("validator saw %d invalid messages, want 5", got)
		}
		send("good 1")
		if !box.delivered("good 1") {
			t.Fatal("after 5 invalid messages the peer can no longer publish")
		}
		send("bad 5")
		time.Sleep(2 * time.Second) // two score snapshots
		synctest.Wait()
		score, ok := v.PeerScore(self)
		if !ok || score >= p2p.GraylistThreshold {
			t.Fatalf("score after 6 invalid messages: %v (known %v), want < %d", score, ok, p2p.GraylistThreshold)
		}
		if g := metric(t, reg, "parley_gossip_graylisted_peers"); g != 1 {
			t.Fatalf("parley_gossip_graylisted_peers = %v, want 1", g)
		}
		send("good 2")
		send("bad 6")
		if box.seen("good 2") != 0 || box.seen("bad 6") != 0 {
			t.Fatal("a graylisted peer's messages reached the validator")
		}
		t.Logf("score after 6 invalid messages: %.0f", score)
	})
}

// A peer sending only what the validator ignores (over a rate limit, an
// orphan: local judgements, which cost no score) faster than it can be
// validated fills the validation queue; the peer gater then drops most of
// that peer's messages before they are queued (over a quarter gated, under
// half reach the validator), while an honest peer in another /24, whose messages are
// delivered, keeps getting through. The ignoring peer is throttled, not
// graylisted.
func TestIgnoredFloodIsThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newGossipNet(t)
		reg := prometheus.NewRegistry()
		v := net.node(t, 0, func(c *p2p.Config) {
			c.Registerer = reg
			c.ValidateQueueSize = 16
		})
		box := &verdictBox{spamCost: 2 * time.Millisecond}
		tp, err := v.JoinTopic("room", box.validate, box.deliver)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		honest := net.rawPeer(t, v, 1, "room")
		attacker := net.rawPeer(t, v, 2, "room")

		// 3 spam messages per ms for 1.5 s, against a validator that
		// takes 2 ms for each on each of its workers (GOMAXPROCS of them).
		const spam = 4500
		ctx := t.Context()
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range spam {
				if i%3 == 0 {
					time.Sleep(time.Millisecond)
				}
				attacker.topic.Publish(ctx, fmt.Appendf(nil, "spam %d", i))
			}
		})
		// Honest messages from the 200th ms, every 50 ms.
		time.Sleep(200 * time.Millisecond)
		const honestN = 20
		for i := range honestN {
			if err := honest.topic.Publish(ctx, fmt.Appendf(nil, "good %d", i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()

		throttled := metric(t, reg, "parley_gossip_throttled_rpcs_total")
		full := metric(t, reg, "parley_gossip_validation_dropped_total")
		validated := box.seen("spam")
		t.Logf("spam sent %d, validated %d, dropped (queue full) %.0f, RPCs throttled by the peer gater %.0f; honest delivered %d/%d",
			spam, validated, full, throttled, box.seen("good"), honestN)
		if throttled < spam/4 {
			t.Errorf("the peer gater throttled %.0f RPCs of %d", throttled, spam)
		}
		if validated > spam/2 {
			t.Errorf("%d of %d spam messages reached the validator", validated, spam)
		}
		// The gater is random early drop, not a block: it turns off
		// whenever the queue's losses fall under 5 % of the validated
		// messages, and the flood fills the queue again until it turns
		// back on, so an honest message now and then meets a full queue
		// (Parley's sync fetches it later).
		if got := box.seen("good"); got < honestN*3/4 {
			t.Errorf("honest messages delivered: %d of %d", got, honestN)
		}
		if s, ok := v.PeerScore(attacker.host); !ok || s < p2p.GraylistThreshold {
			t.Errorf("ignored messages cost the attacker score %v (known %v)", s, ok)
		}
	})
}

// verdictBox is a validator that rejects messages starting with "bad",
// ignores those starting with "spam" (after spamCost, standing for a
// check that costs CPU) and accepts the rest.
type verdictBox struct {
	spamCost time.Duration

	mu    sync.Mutex
	saw   []string
	deliv map[string]bool
}

func (b *verdictBox) validate(_ context.Context, _ peer.ID, data []byte) (any, p2p.ValidationResult, error) {
	s := string(data)
	b.mu.Lock()
	b.saw = append(b.saw, s)
	b.mu.Unlock()
	switch {
	case strings.HasPrefix(s, "bad"):
		return nil, p2p.ValidationReject, nil
	case strings.HasPrefix(s, "spam"):
		time.Sleep(b.spamCost)
		return nil, p2p.ValidationIgnore, nil
	}
	return nil, p2p.ValidationAccept, nil
}

func (b *verdictBox) deliver(_ peer.ID, data []byte, _ any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliv == nil {
		b.deliv = map[string]bool{}
	}
	b.deliv[string(data)] = true
}

// seen counts the messages with prefix the validator saw.
func (b *verdictBox) seen(prefix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.saw {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (b *verdictBox) delivered(data string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deliv[data]
}

// gossipNet is a simnet whose hosts can be put in distinct /24s.
type gossipNet struct {
	nw    *simnet.Simnet
	link  simnet.NodeBiDiLinkSettings
	hosts int
}

func newGossipNet(t *testing.T) *gossipNet {
	t.Helper()
	s := &gossipNet{
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

// host starts a host at 1.0.<group>.x; the caller owns it.
func (s *gossipNet) host(t *testing.T, group int) host.Host {
	t.Helper()
	s.hosts++
	ip := simnet.IntToPublicIPv4(group<<8 + s.hosts)
	h, err := libp2p.New(
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", ip)),
		libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
		simlibp2p.QUICSimnet(s.nw, s.link),
		libp2p.DisableIdentifyAddressDiscovery(), // stalls synctest (see simlibp2p)
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(), libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// node starts a p2p node in group, closed when the test ends.
func (s *gossipNet) node(t *testing.T, group int, mod func(*p2p.Config)) *p2p.Node {
	t.Helper()
	cfg := testConfig()
	cfg.DHTMode = p2p.DHTModeClient
	cfg.RoomMinPeers = 0
	mod(&cfg)
	n, err := p2p.NewWithHost(t.Context(), s.host(t, group), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// rawGossip is a bare gossipsub peer speaking Parley's message format: a
// stand-in for a hostile (or honest but foreign) implementation.
type rawGossip struct {
	host  peer.ID
	topic *pubsub.Topic
}

// rawPeer starts a bare gossipsub peer in group, joins topic, connects to
// n and waits until it counts n in the topic.
func (s *gossipNet) rawPeer(t *testing.T, n *p2p.Node, group int, topic string) rawGossip {
	t.Helper()
	h := s.host(t, group)
	t.Cleanup(func() { h.Close() })
	ctx := t.Context()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithPeerOutboundQueueSize(8192), pubsub.WithFloodPublish(true),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(ledger.ComputeID(m.Data)) }))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Host().Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	// The raw peer only joins (it announces no subscription): it publishes
	// once it knows n is in the topic.
	testwait.For(t, 10*time.Second, "node seen in the topic", func() bool { return len(tp.ListPeers()) > 0 })
	return rawGossip{host: h.ID(), topic: tp}
}

// metric is the value of the counter or gauge name in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
