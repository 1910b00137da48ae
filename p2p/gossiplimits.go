package p2p

import (
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// What gossipsub may hold for strangers, in bytes (docs/RELIABILITY.md,
// "Hostile peers"). Every RPC read or written is at most MaxMessageSize,
// so each queue below holds at most its length × MaxMessageSize:
//
//   - the read buffer of each peer's inbound stream: one RPC;
//   - pubsub's incoming channel: 32 RPCs (fixed by pubsub), 2 MiB;
//   - the validation queue (Config.ValidateQueueSize, 1024): 65 MiB;
//   - each peer's outbound queue (Config.PeerOutboundQueueSize, 256):
//     16.25 MiB. Queued messages are shared, not copied: a message
//     forwarded to many peers is one allocation in all their queues, and a
//     peer that leaves a write blocked for 30 s (pubsub's write deadline)
//     loses its stream and its queue.
const (
	// MaxMessageSize bounds one gossipsub RPC: the largest valid event
	// plus the envelope. An RPC carries one event (gossipsub splits larger
	// ones, and drops a single message that does not fit); a larger RPC
	// from a peer resets its stream before it is buffered whole.
	MaxMessageSize = ledger.MaxEventSize + gossipEnvelope

	// gossipEnvelope is what the RPC adds to an event: the field tags and
	// lengths of the RPC and the message (about 10 bytes) and the topic
	// name (Parley's are under 100 bytes), with room to spare.
	gossipEnvelope = 1 << 10
)

// peerScoreInspectPeriod is how often the peer score snapshot behind
// Node.PeerScore and the graylisted-peers gauge is refreshed.
const peerScoreInspectPeriod = time.Second

// peerGaterParams: once the validation queue overflows (messages dropped
// for want of room reach 5 % of those validated, both counts decaying over
// 2 minutes), the gater admits a peer's messages to the queue with
// probability (1 + delivered) / (1 + delivered + duplicates/32 + ignored
// + 16 × rejected), counted per IP address and decaying over an hour, and
// throws the rest away before they are queued or validated; control
// messages still pass. A stranger sending only what the validators ignore
// (over a rate limit, orphans) or reject has almost no chance; a peer
// that delivered new messages keeps nearly all of its throughput. It
// turns off after a minute without overflow.
//
// pubsub's defaults otherwise. Its threshold (a third of the validated
// messages dropped) only keeps the loss at a third: the gater turns off as
// soon as it has helped, so a flood of ignored messages kept the
// validators busy and a third of the honest messages were lost
// (TestIgnoredFloodIsThrottled). Its duplicate weight (1/8) would cost an
// honest mesh peer, which sends two or three copies for every message it
// delivers first at mesh degree 4, a fifth of its messages while the gater
// is on.
func peerGaterParams() *pubsub.PeerGaterParams {
	p := pubsub.DefaultPeerGaterParams()
	p.Threshold = 0.05
	p.DuplicateWeight = 1.0 / 32
	return p
}

// scoreSnapshot keeps the gossipsub peer scores pubsub reports every
// peerScoreInspectPeriod, for Node.PeerScore and the graylisted gauge.
type scoreSnapshot struct {
	scores atomic.Pointer[map[peer.ID]float64]
	onLow  func(graylisted int) // may be nil
}

// inspect is the pubsub.PeerScoreInspectFn.
func (s *scoreSnapshot) inspect(scores map[peer.ID]float64) {
	s.scores.Store(&scores)
	if s.onLow == nil {
		return
	}
	low := 0
	for _, v := range scores {
		if v < GraylistThreshold {
			low++
		}
	}
	s.onLow(low)
}

// PeerScore returns p's gossipsub score as of the last refresh (once a
// second) and whether p had one (a connected gossipsub peer). Below
// GraylistThreshold (-2500) every RPC from p is ignored: 6 invalid
// messages in an hour get a peer there (−100 × n², see topicScoreParams).
func (n *Node) PeerScore(p peer.ID) (float64, bool) {
	m := n.scores.scores.Load()
	if m == nil {
		return 0, false
	}
	v, ok := (*m)[p]
	return v, ok
}

// GraylistThreshold is the gossipsub score below which a peer's RPCs are
// ignored altogether.
const GraylistThreshold = -2500
