package chat

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Network is the transport chat needs: one publish/subscribe topic per room.
// It is declared here, where it is used; the p2p package satisfies it and
// node passes one to New. Implementations must be safe for concurrent use.
type Network interface {
	// Self is the local peer ID.
	Self() peer.ID
	// JoinTopic joins topic's mesh. validate runs for every message,
	// including locally published ones, before it is forwarded or delivered;
	// a non-nil error rejects the message (it is not forwarded and the
	// sender's score drops). The data validate is given is never modified
	// or reused afterwards, so it may keep it. The value validate returns
	// is handed to deliver with the message, so decoding and signature
	// checks happen once.
	// deliver is called for every accepted message from a peer, right
	// after validate accepts it (on pubsub's validation workers):
	// concurrently, in any order. It must not block. Our own published
	// messages are validated but not delivered.
	JoinTopic(topic string, validate ValidateFunc, deliver DeliverFunc) (Topic, error)
}

// ValidateFunc checks one message from peer from (the forwarding peer, not
// necessarily the author). It must not block for long.
type ValidateFunc = func(ctx context.Context, from peer.ID, data []byte) (any, error)

// DeliverFunc receives an accepted message with the value its validator returned.
type DeliverFunc = func(from peer.ID, data []byte, validated any)

// Topic is a joined topic. It is an alias of an interface literal so that
// p2p can declare the identical type and satisfy Network structurally.
type Topic = interface {
	// Publish sends data to the topic's mesh.
	Publish(ctx context.Context, data []byte) error
	// Peers lists the peers we know to be subscribed to the topic.
	Peers() []peer.ID
	// Close stops delivery, waits for running deliver calls and leaves
	// the topic.
	Close() error
}
