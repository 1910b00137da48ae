package p2p

import (
	"errors"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// gossipTracer counts, for Prometheus, the gossip copies pubsub drops as
// already seen. On a node that only receives, divided by
// parley_messages_received_total it is the redundancy the mesh degree
// buys: about one copy per mesh peer per message, minus one
// (Config.MeshDegree). pubsub calls it synchronously from its event loop
// and validation workers, so it only increments a counter.
type gossipTracer struct {
	duplicates prometheus.Counter
}

// newGossipTracer registers the gossip counters with reg.
func newGossipTracer(reg prometheus.Registerer) (*gossipTracer, error) {
	dup := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "parley", Name: "gossip_duplicates_total",
		Help: "Copies of gossip messages this node had already seen, dropped before Parley's validator runs.",
	})
	if err := reg.Register(dup); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		// A registry shared by several nodes counts them together.
		dup = are.ExistingCollector.(prometheus.Counter)
	}
	return &gossipTracer{duplicates: dup}, nil
}

func (t *gossipTracer) DuplicateMessage(*pubsub.Message) { t.duplicates.Inc() }

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
func (*gossipTracer) RejectMessage(*pubsub.Message, string)                {}
func (*gossipTracer) ThrottlePeer(peer.ID)                                 {}
func (*gossipTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*gossipTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*gossipTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*gossipTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*gossipTracer) UndeliverableMessage(*pubsub.Message)                 {}

var _ pubsub.RawTracer = (*gossipTracer)(nil)
