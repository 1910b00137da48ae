package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// messageID is the gossipsub message ID: the ledger event ID of the
// payload. Messages are unsigned and carry no author or sequence number
// (StrictNoSign), so pubsub's default ID would be empty for all of them.
// On a topic outside publicTopicPrefix (a private room's epoch topics)
// the topic name comes first: pubsub's seen cache is global, and a
// private room publishes its membership events on each epoch topic it
// is on, which a bare event ID would drop after the first.
func messageID(m *pb.Message) string {
	id := string(ledger.ComputeID(m.Data))
	if t := m.GetTopic(); !strings.HasPrefix(t, publicTopicPrefix) {
		return t + "\x00" + id
	}
	return id
}

// publicTopicPrefix starts the topic name of every room found by name or
// ID (docs/PROTOCOL.md): their message ID is the bare event ID.
const publicTopicPrefix = "/parley/room/"

// newPubSub starts gossipsub on h, reporting peer scores to scores,
// sinking the score of peers in blocks and applying the topics' access
// rules (access.go). It runs until ctx is cancelled; pubsub has no Close.
func newPubSub(ctx context.Context, h host.Host, cfg Config, scores *scoreSnapshot, blocks *blockList, access *accessRules) (*pubsub.PubSub, error) {
	opts := append(RouterOptions(cfg),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithPeerScore(blocks.scoreParams(peerScoreParams(cfg.SeenTTL)), peerScoreThresholds()),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(scores.inspect), peerScoreInspectPeriod),
		pubsub.WithPeerGater(peerGaterParams()),
		pubsub.WithLogger(slog.New(newThrottle(cfg.logger().With("component", "pubsub").Handler(), time.Minute))),
	)
	opts = append(opts, access.options()...)
	if cfg.Registerer != nil {
		t, err := newGossipTracer(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("gossip metrics: %w", err)
		}
		scores.onLow = t.setGraylisted
		opts = append(opts, pubsub.WithRawTracer(t))
	}
	return pubsub.NewGossipSub(ctx, h, opts...)
}

// RouterOptions are how nodes run gossipsub's router, apart from what is
// Parley's own (unsigned messages with event IDs, peer scores, the peer
// gater, logging): mesh parameters, flood publishing, the seen-message
// window, the RPC size limit (MaxMessageSize) and queue sizes. The
// benchmark's bare-pubsub baseline runs with them too.
//
// Flood publishing is on (pubsub's default is off): our own messages go to
// every topic peer above the publish threshold, not only to mesh peers, so
// a message published before the mesh forms (right after joining a room)
// is not lost. Chat traffic is small enough for this to be cheap.
func RouterOptions(cfg Config) []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(MaxMessageSize),
		pubsub.WithGossipSubParams(gossipParams(cfg.MeshDegree)),
		pubsub.WithSeenMessagesTTL(cfg.SeenTTL),
		pubsub.WithPeerOutboundQueueSize(cfg.PeerOutboundQueueSize),
		pubsub.WithValidateQueueSize(cfg.ValidateQueueSize),
		pubsub.WithValidateThrottle(cfg.ValidateThrottle),
	}
}

// gossipParams are gossipsub's defaults with mesh degree d (Config.
// MeshDegree): the mesh is kept between d-1 and 2d peers; at least d/2-1
// of them must be peers we dialled (pubsub wants fewer than d/2), so that
// inbound connections alone cannot fill it; and when an oversubscribed
// mesh is pruned, 2/3 of the d kept are the best scored and the rest
// random (gossipsub's 4 of 6), so the mesh stays diverse.
func gossipParams(d int) pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D, p.Dlo, p.Dhi = d, d-1, 2*d
	p.Dout = max(0, d/2-1)
	p.Dscore = max(1, 2*d/3)
	return p
}

// peerScoreParams are the router-wide score parameters. Topic parameters
// are added per topic by JoinTopic (topicScoreParams). Delivery records
// are kept as long as seen messages (seenTTL).
func peerScoreParams(seenTTL time.Duration) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		SeenMsgTTL: seenTTL,

		Topics:        make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap: 50,

		// P5: set by blockList.scoreParams (gater.go): blocked peers.
		AppSpecificScore:  func(peer.ID) float64 { return 0 },
		AppSpecificWeight: 1,

		// P6: penalise many peers from one IP (sybils), but tolerate an
		// office or household behind one NAT, and ignore loopback.
		IPColocationFactorWeight:    -10,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: loopbackNets(),

		// P7: broken promises and premature re-grafts.
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),

		DecayInterval: time.Second,
		DecayToZero:   0.01,
		RetainScore:   time.Hour,
	}
}

// peerScoreThresholds: peers below -500 get no gossip, below -1000 none of
// our publishes, below -2500 are ignored altogether.
func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           1000,
		OpportunisticGraftThreshold: 3.5,
	}
}

// topicScoreParams fit chat rooms: traffic is low and bursty, so there is
// no mesh-delivery-rate penalty (P3); time in mesh and first deliveries
// earn a little, and invalid messages (P4, what a room's validator
// rejects) cost a lot: −100 × n², decaying over an hour, so the 6th
// invalid message graylists a peer (−3600 < −2500; 5 make exactly −2500,
// which is not below it).
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight: 1,

		TimeInMeshWeight:  0.0027,
		TimeInMeshQuantum: time.Second,
		TimeInMeshCap:     3600,

		FirstMessageDeliveriesWeight: 1,
		FirstMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(10 * time.Minute),
		FirstMessageDeliveriesCap:    20,

		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}

// loopbackNets are 127.0.0.0/8 and ::1/128.
func loopbackNets() []*net.IPNet {
	return []*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
	}
}
