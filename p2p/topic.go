package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

var (
	// ErrTopicJoined is returned by JoinTopic when the topic is already
	// joined: a topic has one validator, and it is the one delivering.
	ErrTopicJoined = errors.New("p2p: topic already joined (one validator per topic)")
	// ErrClosed is returned when the Node is closed.
	ErrClosed = errors.New("p2p: node closed")
)

// ValidationResult is a validator's verdict on one message. Its values are
// pubsub's, one for one.
type ValidationResult int

const (
	// ValidationAccept delivers the message (if it came from a peer) and
	// forwards it.
	ValidationAccept = ValidationResult(pubsub.ValidationAccept)
	// ValidationReject drops the message and lowers the forwarding peer's
	// score (gossipsub's P4: invalid message deliveries).
	ValidationReject = ValidationResult(pubsub.ValidationReject)
	// ValidationIgnore drops the message without penalising anyone.
	ValidationIgnore = ValidationResult(pubsub.ValidationIgnore)
)

// String returns "accept", "reject" or "ignore".
func (r ValidationResult) String() string {
	switch r {
	case ValidationAccept:
		return "accept"
	case ValidationReject:
		return "reject"
	case ValidationIgnore:
		return "ignore"
	}
	return fmt.Sprintf("ValidationResult(%d)", int(r))
}

// ValidateFunc checks one message received from peer from (the forwarding
// peer, not necessarily the author), or published locally (from is then
// the node's own ID). It returns the value to hand to DeliverFunc (used
// only on ValidationAccept), the verdict, and for a reject or ignore an
// error saying why, which is only logged at debug level; the verdict
// alone decides. A verdict other than the three is taken as a reject. It
// runs on pubsub's validation workers, one per core, so it must not block:
// a slow validator delays every message of the node
// (Config.ValidateTimeout, if set, bounds each call). It may run
// concurrently with itself. data is never modified or reused by pubsub or
// by us afterwards (received data is a fresh copy; published data must
// not be changed after Publish), so the validator may keep it.
type ValidateFunc func(ctx context.Context, from peer.ID, data []byte) (any, ValidationResult, error)

// DeliverFunc receives a message from a peer that its validator accepted,
// with the validator's value. It is called on pubsub's validation worker
// right after the validator returns ValidationAccept, so it must not
// block; it may run concurrently with itself, and messages may come in any
// order. Messages the node publishes itself are validated but never
// delivered: the publisher has them.
type DeliverFunc func(from peer.ID, data []byte, validated any)

// Topic is a joined gossipsub topic, as returned by JoinTopic. Its methods
// are safe for concurrent use.
type Topic interface {
	// Publish validates data locally (the ValidateFunc sees the node's own
	// ID as from) and, if accepted, sends it to the mesh (it is not handed
	// to DeliverFunc). A rejected or ignored message returns an error
	// wrapping pubsub's ValidationError. Publishing data already delivered
	// is a silent no-op: the message ID is the event ID of data. data must
	// not be modified after the call.
	Publish(ctx context.Context, data []byte) error
	// Peers lists the connected peers known to be subscribed to the topic.
	Peers() []peer.ID
	// SetRendezvous changes the string the topic's members meet under in
	// the DHT (WithRendezvous; "" stops DHT discovery) without leaving the
	// topic: the discovery goroutine advertises and searches the new
	// string at once and never re-advertises the old one, whose provider
	// record then expires in the DHT on its own (Config.ProviderTTL of
	// kad-dht, 48 h by default). Private rooms rotate it with their epoch
	// secret.
	SetRendezvous(s string)
	// Close stops delivery and room discovery (the node no longer
	// advertises the topic; its last DHT record expires on its own), waits
	// for running deliver calls and the discovery goroutine (deliver is
	// not called once Close returns), stops relaying, unregisters the
	// validator and leaves the topic. It is idempotent; afterwards the
	// topic may be joined again. It must not be called from the topic's
	// own DeliverFunc, whose calls it waits for.
	Close() error
}

// JoinOption changes how JoinTopic joins a topic.
type JoinOption func(*joinOptions)

type joinOptions struct {
	allow      func(peer.ID) bool
	rendezvous string
}

// WithAllow admits to the topic only the peers allow accepts (a private
// room's members and store nodes): a refused peer is never in the
// topic's mesh or peer list, never sent its messages or gossip, and its
// messages on the topic are dropped before validation. It still sees
// that we subscribe to the topic's name (access.go says what leaks).
// allow is called on pubsub's event loop, for every control decision
// about the topic, so it must be fast and must not block; the set it
// admits should be fixed for the topic's life: a peer refused when its
// subscription arrived is admitted only once it subscribes again, and a
// peer admitted keeps its place in the topic's peer list (a private room
// changes topic with each epoch instead).
func WithAllow(allow func(peer.ID) bool) JoinOption {
	return func(o *joinOptions) { o.allow = allow }
}

// WithRendezvous makes members find each other in the DHT under s
// instead of the topic's name; "" turns DHT discovery off for the topic.
// Topic.SetRendezvous changes it later.
func WithRendezvous(s string) JoinOption {
	return func(o *joinOptions) { o.rendezvous = s }
}

// topic implements Topic.
type topic struct {
	node     *Node
	name     string
	allow    func(peer.ID) bool // nil: everyone
	log      *slog.Logger
	topic    *pubsub.Topic
	relay    pubsub.RelayCancelFunc
	validate ValidateFunc
	deliver  DeliverFunc

	// Close sets stopped, after which no deliver call starts, and waits
	// until running is 0. New calls are never blocked (a lock would let a
	// deliver that publishes on its own topic wait for a waiting Close).
	deliverMu sync.Mutex
	stopped   bool
	running   int
	idle      *sync.Cond // signalled when running drops to 0 after stopped

	rvMu      sync.Mutex
	rv        string        // DHT rendezvous string; "" for none
	rvChanged chan struct{} // wakes the discovery goroutine (buffered 1)

	cancel    context.CancelFunc // stops the discovery goroutine
	discDone  chan struct{}      // closed when the discovery goroutine returns
	closeOnce sync.Once
	closeErr  error
}

// JoinTopic joins the gossipsub topic name (the full name, for
// example "/parley/room/<id>"; p2p does not invent names), registers
// validate as its one validator, calls deliver for every message from a
// peer that validate accepts, as soon as it does, and starts a goroutine
// that finds the topic's other members by DHT rendezvous on name and
// connects to them (see discover). A topic has one validator, so it can be
// joined once at a time: a second join before Close returns
// ErrTopicJoined (and a join of a topic whose validator was registered on
// PubSub directly fails too). On error nothing is left registered.
// Options restrict who may take part (WithAllow) and set the rendezvous
// string (WithRendezvous).
func (n *Node) JoinTopic(name string, validate ValidateFunc, deliver DeliverFunc, opts ...JoinOption) (Topic, error) {
	if validate == nil || deliver == nil {
		return nil, fmt.Errorf("p2p: join %q: nil validate or deliver func", name)
	}
	o := joinOptions{rendezvous: name}
	for _, opt := range opts {
		opt(&o)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.topics[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrTopicJoined, name)
	}
	t := &topic{
		node:      n,
		name:      name,
		allow:     o.allow,
		validate:  validate,
		deliver:   deliver,
		log:       n.log.With("topic", name),
		rv:        o.rendezvous,
		rvChanged: make(chan struct{}, 1),
		discDone:  make(chan struct{}),
	}
	t.idle = sync.NewCond(&t.deliverMu)
	if err := t.start(); err != nil {
		return nil, fmt.Errorf("p2p: join %q: %w", name, err)
	}
	n.topics[name] = t
	n.log.Debug("joined topic", "topic", name)
	return t, nil
}

// start registers the validator, joins the topic and its mesh, and starts
// discovery; on error it undoes what it did.
//
// The node relays the topic rather than subscribing to it: peers see a
// subscription all the same (pubsub announces both alike) and graft it
// into the mesh, but accepted messages are handed to deliver from the
// validator instead of queueing behind every other message in pubsub's
// single event loop and then in a subscription buffer. On 2 cores under
// load that hand-off was the longest wait of a delivery (docs/BENCHMARKS.md),
// and each joined topic kept a 1,024-message buffer and a goroutine.
func (t *topic) start() (err error) {
	ps := t.node.ps
	// Inline: the validator runs on pubsub's validation workers (one per
	// core) instead of a new goroutine per message, which suits a check
	// that mostly computes (Parley's is a signature check; it reads the
	// datastore only for copies of old events).
	vopts := []pubsub.ValidatorOpt{pubsub.WithValidatorInline(true)}
	if d := t.node.cfg.ValidateTimeout; d > 0 {
		vopts = append(vopts, pubsub.WithValidatorTimeout(d))
	}
	// The rule is in place before the join announces us: the peers'
	// subscriptions that answer it are filtered already.
	if t.allow != nil {
		t.node.access.set(t.name, t.allow)
		defer func() {
			if err != nil {
				t.node.access.set(t.name, nil)
			}
		}()
	}
	if err := ps.RegisterTopicValidator(t.name, pubsub.ValidatorEx(t.validateMsg), vopts...); err != nil {
		return fmt.Errorf("register validator: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ps.UnregisterTopicValidator(t.name))
		}
	}()
	if t.topic, err = ps.Join(t.name); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.topic.Close())
		}
	}()
	if err = t.topic.SetScoreParams(topicScoreParams()); err != nil {
		return fmt.Errorf("score params: %w", err)
	}
	if t.relay, err = t.topic.Relay(); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer func() {
		if err != nil {
			t.relay() // before the topic's Close above, which refuses while relayed
		}
	}()
	ctx, cancel := context.WithCancel(t.node.ctx)
	t.cancel = cancel
	var evh *pubsub.TopicEventHandler
	if t.node.cfg.OnTopicPeer != nil {
		if evh, err = t.topic.EventHandler(); err != nil {
			cancel()
			return fmt.Errorf("topic events: %w", err)
		}
	}
	t.node.wg.Go(func() {
		defer close(t.discDone)
		if evh != nil {
			var wg sync.WaitGroup
			wg.Go(func() { t.peerEvents(ctx, evh) })
			defer wg.Wait()
			defer evh.Cancel()
		}
		t.discover(ctx)
	})
	return nil
}

// peerEvents reports peers that join the topic to Config.OnTopicPeer (the
// node starts a ledger sync with them), until ctx ends.
func (t *topic) peerEvents(ctx context.Context, evh *pubsub.TopicEventHandler) {
	for {
		ev, err := evh.NextPeerEvent(ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin {
			t.node.cfg.OnTopicPeer(t.name, ev.Peer)
		}
	}
}

// validateMsg adapts ValidateFunc to pubsub and delivers from here: pubsub
// calls it once per message ID per seen window and its verdict is final,
// so a message is delivered at most once, and only after ValidationAccept.
// Our own publishes (from is ourselves) are never delivered. A panicking
// validator rejects the message instead of crashing the node.
func (t *topic) validateMsg(ctx context.Context, from peer.ID, msg *pubsub.Message) (res pubsub.ValidationResult) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("validator panicked", "peer", from, "panic", r)
			res = pubsub.ValidationReject
		}
	}()
	v, verdict, err := t.validate(ctx, from, msg.Data)
	switch verdict {
	case ValidationAccept:
		if from != t.node.Self() { // our own: the publisher has it
			t.deliverMsg(from, msg.Data, v)
		}
		return pubsub.ValidationAccept
	case ValidationIgnore:
		t.log.Debug("message ignored", "peer", from, "err", err)
		return pubsub.ValidationIgnore
	case ValidationReject:
		t.log.Debug("message rejected", "peer", from, "err", err)
	default:
		t.log.Error("validator returned an unknown verdict: rejected", "peer", from, "verdict", verdict, "err", err)
	}
	return pubsub.ValidationReject
}

// deliverMsg calls deliver unless Close has begun, logging instead of
// crashing on a panic (a bug of ours, not the sender's: the message stays
// accepted).
func (t *topic) deliverMsg(from peer.ID, data []byte, v any) {
	t.deliverMu.Lock()
	if t.stopped {
		t.deliverMu.Unlock()
		return
	}
	t.running++
	t.deliverMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("deliver panicked", "peer", from, "panic", r)
		}
		t.deliverMu.Lock()
		if t.running--; t.running == 0 && t.stopped {
			t.idle.Broadcast()
		}
		t.deliverMu.Unlock()
	}()
	t.deliver(from, data, v)
}

// Publish implements Topic.
func (t *topic) Publish(ctx context.Context, data []byte) error {
	if err := t.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("p2p: publish to %q: %w", t.name, err)
	}
	return nil
}

// SetRendezvous implements Topic.
func (t *topic) SetRendezvous(s string) {
	t.rvMu.Lock()
	changed := t.rv != s
	t.rv = s
	t.rvMu.Unlock()
	if changed {
		select {
		case t.rvChanged <- struct{}{}:
		default: // a wake-up is pending; it reads the newest string
		}
	}
}

// rendezvous returns the current rendezvous string.
func (t *topic) rendezvous() string {
	t.rvMu.Lock()
	defer t.rvMu.Unlock()
	return t.rv
}

// Peers implements Topic.
func (t *topic) Peers() []peer.ID { return t.topic.ListPeers() }

// Close implements Topic.
func (t *topic) Close() error {
	t.closeOnce.Do(func() {
		t.cancel()
		t.deliverMu.Lock()
		t.stopped = true
		for t.running > 0 {
			t.idle.Wait()
		}
		t.deliverMu.Unlock()
		t.relay() // handled by pubsub before the topic removal below
		<-t.discDone
		ps := t.node.ps
		t.closeErr = errors.Join(ps.UnregisterTopicValidator(t.name), t.topic.Close())
		if t.allow != nil { // after leaving: no refused peer slips in meanwhile
			t.node.access.set(t.name, nil)
		}
		if t.closeErr != nil {
			t.closeErr = fmt.Errorf("p2p: close topic %q: %w", t.name, t.closeErr)
		}
		t.node.mu.Lock()
		delete(t.node.topics, t.name)
		t.node.mu.Unlock()
		t.log.Debug("left topic")
	})
	return t.closeErr
}
