package p2p

import (
	"errors"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// gossipTracer counts, for Prometheus, what gossipsub drops before
// Parley's validator sees it: copies already seen (on a node that only
// receives, divided by parley_messages_received_total it is the
// redundancy the mesh degree buys: about one copy per mesh peer per
// message, minus one, Config.MeshDegree), messages dropped because the
// validation queue was full, and RPCs whose messages the peer gater threw
// away; and it holds the graylisted-peers gauge. pubsub calls it
// synchronously from its event loop and validation workers, so it only
// updates metrics.
type gossipTracer struct {
	duplicates prometheus.Counter
	queueFull  prometheus.Counter
	throttled  prometheus.Counter
	graylisted prometheus.Gauge
}

// newGossipTracer registers the gossip metrics with reg. A registry shared
// by several nodes counts them together (the gauge shows the last node's).
func newGossipTracer(reg prometheus.Registerer) (*gossipTracer, error) {
	var t gossipTracer
	for _, m := range []struct {
		dst  *prometheus.Counter
		name string
		help string
	}{
		{&t.duplicates, "gossip_duplicates_total", "Copies of gossip messages this node had already seen, dropped before Parley's validator runs."},
		{&t.queueFull, "gossip_validation_dropped_total", "Gossip messages dropped because the validation queue was full."},
		{&t.throttled, "gossip_throttled_rpcs_total", "Gossip RPCs whose messages the peer gater dropped before validation (their control messages were kept)."},
	} {
		c, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "parley", Name: m.name, Help: m.help}))
		if err != nil {
			return nil, err
		}
		*m.dst = c
	}
	g, err := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "parley", Name: "gossip_graylisted_peers",
		Help: "Connected gossip peers whose score is below the graylist threshold (all their RPCs are ignored).",
	}))
	if err != nil {
		return nil, err
	}
	t.graylisted = g
	return &t, nil
}

// register registers c with reg, or returns the collector of the same name
// already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return c, err
		}
		return are.ExistingCollector.(C), nil
	}
	return c, nil
}

func (t *gossipTracer) DuplicateMessage(*pubsub.Message) { t.duplicates.Inc() }
func (t *gossipTracer) ThrottlePeer(peer.ID)             { t.throttled.Inc() }

func (t *gossipTracer) RejectMessage(_ *pubsub.Message, reason string) {
	if reason == pubsub.RejectValidationQueueFull {
		t.queueFull.Inc()
	}
}

func (t *gossipTracer) setGraylisted(n int) { t.graylisted.Set(float64(n)) }

// The rest of pubsub.RawTracer: not counted.

func (*gossipTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (*gossipTracer) RemovePeer(peer.ID)                                   {}
func (*gossipTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*gossipTracer) OnClosedOutboundStream(peer.ID)                       {}
func (*gossipTracer) Join(string)                                          {}
func (*gossipTracer) Leave(string)                                         {}
func (*gossipTracer) Graft(peer.ID, string)                                {}
func (*gossipTracer) Prune(peer.ID, string)                                {}
func (*gossipTracer) ValidateMessage(*pubsub.Message)                      {}
func (*gossipTracer) DeliverMessage(*pubsub.Message)                       {}
func (*gossipTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*gossipTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*gossipTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*gossipTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*gossipTracer) UndeliverableMessage(*pubsub.Message)                 {}

var _ pubsub.RawTracer = (*gossipTracer)(nil)
