package p2p_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// testConfig listens on 127.0.0.1 only, with mDNS and NAT port mapping off
// and no bootstrap peers.
func testConfig() p2p.Config {
	return testConfigMode(p2p.DHTModeServer)
}

// testConfigMode is testConfig with the given DHT mode.
func testConfigMode(mode p2p.DHTMode) p2p.Config {
	cfg := p2p.DefaultConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.MDNS = false
	cfg.NATPortMap = false
	cfg.DHTMode = mode
	cfg.Logger = testLogger
	return cfg
}

func newKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newNode starts a node with cfg and closes it when the test ends.
func newNode(t *testing.T, cfg p2p.Config) *p2p.Node {
	t.Helper()
	n, err := p2p.New(t.Context(), newKey(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// connect dials b from a using b's first advertised address.
func connect(t *testing.T, a, b *p2p.Node) {
	t.Helper()
	addrs := b.Addrs()
	if len(addrs) == 0 {
		t.Fatal("node has no addresses")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, addrs[0]); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

type delivery struct {
	from      peer.ID
	data      string
	validated any
}

// inbox records what a topic validates and delivers. Its validator
// rejects payloads that start with reject (if reject is not empty) and
// returns "ok:"+data otherwise.
type inbox struct {
	reject string

	mu        sync.Mutex
	validated []string
	delivered []delivery
}

func (b *inbox) validate(_ context.Context, _ peer.ID, data []byte) (any, p2p.ValidationResult, error) {
	b.mu.Lock()
	b.validated = append(b.validated, string(data))
	b.mu.Unlock()
	if b.reject != "" && strings.HasPrefix(string(data), b.reject) {
		return nil, p2p.ValidationReject, errRejected
	}
	return "ok:" + string(data), p2p.ValidationAccept, nil
}

func (b *inbox) deliver(from peer.ID, data []byte, validated any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delivered = append(b.delivered, delivery{from, string(data), validated})
}

// count returns how many times data was delivered.
func (b *inbox) count(data string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, d := range b.delivered {
		if d.data == data {
			n++
		}
	}
	return n
}

func (b *inbox) sawValidate(data string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.validated, data)
}

func (b *inbox) deliveries() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.delivered)
}

// join joins topic on n with a fresh inbox and leaves it when the test ends.
func join(t *testing.T, n *p2p.Node, topic, reject string) (p2p.Topic, *inbox) {
	t.Helper()
	box := &inbox{reject: reject}
	tp, err := n.JoinTopic(topic, box.validate, box.deliver)
	if err != nil {
		t.Fatalf("JoinTopic: %v", err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp, box
}

// waitTopicPeers waits until tp sees every peer in want. The bound is
// generous because discovery and relay dials retry with backoff (a failed
// circuit dial stays in the swarm's dial backoff for 5 s), and CI runs
// other packages' tests alongside.
func waitTopicPeers(t *testing.T, tp p2p.Topic, want ...peer.ID) {
	t.Helper()
	testwait.For(t, 20*time.Second, "topic peers", func() bool {
		got := tp.Peers()
		for _, p := range want {
			if !slices.Contains(got, p) {
				return false
			}
		}
		return true
	})
}

var testLogger = slog.New(slog.DiscardHandler)

// warmUp publishes distinct probe messages on pub until every box has
// received one of this call's probes. Gossipsub relays only along its
// mesh, which forms at the first heartbeats after joining; a message
// relayed before that is not forwarded (in Parley, sync repairs such
// gaps). The probes carry a tag unique to the call: a box that once
// delivered its own node's probes must not count as reached.
func warmUp(t *testing.T, pub p2p.Topic, boxes ...*inbox) {
	t.Helper()
	warmUps++
	prefix := fmt.Sprintf("warm-up %d/", warmUps)
	i := 0
	testwait.For(t, 15*time.Second, "mesh to form", func() bool {
		i++
		if err := pub.Publish(t.Context(), fmt.Appendf(nil, "%s%d", prefix, i)); err != nil {
			t.Fatalf("Publish warm-up: %v", err)
		}
		for _, b := range boxes {
			if !b.sawPrefix(prefix) {
				return false
			}
		}
		return true
	})
}

// warmUps numbers warmUp calls (tests using it do not run in parallel).
var warmUps int

func (b *inbox) sawPrefix(prefix string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.ContainsFunc(b.delivered, func(d delivery) bool { return strings.HasPrefix(d.data, prefix) })
}

func init() {
	// P2P_DEBUG=1 go test ./p2p/ shows the nodes' debug logs.
	if os.Getenv("P2P_DEBUG") != "" {
		testLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}
