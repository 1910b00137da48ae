package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	ma "github.com/multiformats/go-multiaddr"
)

// MDNSServiceName is the DNS-SD service under which Parley nodes announce
// themselves on the LAN (Config.MDNS). It differs from libp2p's default
// "_p2p._udp" so that only Parley nodes are found.
const MDNSServiceName = "_parley._udp"

// Node is a running Parley network node: a libp2p host, a Kademlia DHT and
// gossipsub. Create it with New or NewWithHost and stop it with Close.
// All methods are safe for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	host      host.Host
	dht       *dht.IpfsDHT
	ps        *pubsub.PubSub
	psCancel  context.CancelFunc // pubsub has no Close
	bootstrap []peer.AddrInfo
	disc      *drouting.RoutingDiscovery
	blocks    *blockList   // Block's list; the host's gater when built by New
	book      *peerBook    // nil without Config.Datastore
	mdns      mdns.Service // nil without Config.MDNS
	events    event.Subscription

	scores     scoreSnapshot // gossipsub peer scores, refreshed by pubsub
	reach      atomic.Value  // Reachability
	relayAddrs atomic.Pointer[[]ma.Multiaddr]

	kickMu sync.Mutex
	kickCh chan struct{} // closed and replaced by kickDiscovery

	ctx    context.Context // the node's lifetime; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node owns

	access *accessRules // WithAllow rules, applied by pubsub

	mu     sync.Mutex
	topics map[string]*topic
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// New starts a node with identity key: it builds a libp2p host listening
// on cfg.ListenAddrs (TCP and QUIC, Noise and TLS, yamux, connection and
// autoscaled resource managers, NAT port mapping if cfg.NATPortMap), then
// the DHT and gossipsub, and starts connecting to cfg.BootstrapPeers in the
// background. The host's connection gater is the node's block list (Block)
// in front of cfg.ConnectionGater. ctx bounds construction only; the node
// runs until Close. If New fails, nothing it started is left running.
func New(ctx context.Context, key crypto.PrivKey, cfg Config) (*Node, error) {
	if key == nil {
		return nil, fmt.Errorf("p2p: %w: nil private key", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w: %v", ErrInvalidConfig, err)
	}
	bootstrap, _ := parseBootstrapPeers(cfg.BootstrapPeers) // checked by Validate
	bootstrap = slices.DeleteFunc(bootstrap, func(ai peer.AddrInfo) bool { return ai.ID == self })
	blocks := newBlockList(cfg.ConnectionGater)
	cfg.ConnectionGater = blocks
	h, err := newHost(key, cfg, bootstrap)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	return start(ctx, h, cfg, blocks)
}

// NewWithHost is New on a host built by the caller, for example a mocknet
// host in tests. cfg's host settings (ListenAddrs, NATPortMap, ConnMgr*,
// UserAgent, ForceReachability, ConnectionGater, Resource*, and the relay
// and AutoNAT services of Bootstrap) are ignored. The Node takes ownership of h: Close closes it,
// and so does a failing NewWithHost.
func NewWithHost(ctx context.Context, h host.Host, cfg Config) (*Node, error) {
	if h == nil {
		return nil, fmt.Errorf("p2p: %w: nil host", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	cfg.ForceReachability = "" // the caller's host decides
	if err := cfg.Validate(); err != nil {
		return nil, errors.Join(fmt.Errorf("p2p: %w", err), h.Close())
	}
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	return start(ctx, h, cfg, newBlockList(nil))
}

// start builds the DHT and pubsub on h and starts the background work.
// blocks is Block's list (h's gater if New built h). On error it closes
// whatever it started, h included.
func start(ctx context.Context, h host.Host, cfg Config, blocks *blockList) (_ *Node, err error) {
	n := &Node{
		cfg:    cfg,
		log:    cfg.logger(),
		host:   h,
		blocks: blocks,
		topics: make(map[string]*topic),
		access: newAccessRules(),
		kickCh: make(chan struct{}),
	}
	// The node's lifetime context keeps ctx's values but not its deadline
	// or cancellation: only Close stops the node.
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("p2p: %w", err), n.shutdown())
		}
	}()

	bootstrap, err := parseBootstrapPeers(cfg.BootstrapPeers)
	if err != nil {
		return nil, err
	}
	n.bootstrap = slices.DeleteFunc(bootstrap, func(ai peer.AddrInfo) bool { return ai.ID == h.ID() })
	addBootstrapPeers(h, n.bootstrap)
	h.Network().Notify(blocks.closeBlocked())

	if n.events, err = n.subscribeEvents(); err != nil {
		return nil, fmt.Errorf("subscribe to host events: %w", err)
	}
	if cfg.ForceReachability != "" {
		n.reach.Store(cfg.ForceReachability) // the event is on its way; be right already
	}
	n.wg.Go(func() { n.watchEvents(n.ctx, n.events) })
	if cfg.Datastore != nil {
		if n.book, err = openPeerBook(ctx, cfg.Datastore, cfg.MaxKnownPeers, cfg.RememberPrivateAddrs, n.log); err != nil {
			return nil, err
		}
	}
	if n.dht, err = newDHT(h, cfg, n.bootstrap); err != nil {
		return nil, err
	}
	n.disc = n.newRoutingDiscovery()
	psCtx, psCancel := context.WithCancel(n.ctx)
	n.psCancel = psCancel
	if n.ps, err = newPubSub(psCtx, h, cfg, &n.scores, blocks, n.access); err != nil {
		return nil, fmt.Errorf("pubsub: %w", err)
	}
	if cfg.MDNS {
		svc := mdns.NewMdnsService(h, MDNSServiceName, mdnsNotifee{n})
		if err := svc.Start(); err != nil {
			// No multicast-capable interface: the node works without it.
			n.log.Warn("mdns discovery unavailable", "err", err)
			svc.Close()
		} else {
			n.mdns = svc
		}
	}
	if len(n.bootstrap) > 0 {
		n.wg.Go(func() { n.maintainBootstrap(n.ctx) })
	}
	if n.book != nil {
		n.wg.Go(func() { n.reconnectKnown(n.ctx) })
	}
	n.log.Info("node started", "peer", h.ID(), "addrs", n.Addrs(), "dht_mode", cfg.DHTMode,
		"bootstrap_node", cfg.Bootstrap, "bootstrap_peers", len(n.bootstrap), "mdns", n.mdns != nil)
	return n, nil
}

// Self returns the node's peer ID.
func (n *Node) Self() peer.ID { return n.host.ID() }

// Host returns the libp2p host. It is owned by the node: do not close it.
func (n *Node) Host() host.Host { return n.host }

// DHT returns the Kademlia DHT (protocol prefix DHTProtocolPrefix).
func (n *Node) DHT() *dht.IpfsDHT { return n.dht }

// PubSub returns the gossipsub instance. Join topics through JoinTopic so
// that they get a validator, score parameters and delivery.
func (n *Node) PubSub() *pubsub.PubSub { return n.ps }

// Close stops the node in reverse order of start: it closes every joined
// topic (with its discovery loop), stops mDNS, the bootstrap, reconnect and
// event loops, stops pubsub, closes the DHT and then the host, and waits
// for every goroutine the node started. It does not close
// Config.Datastore. It is
// idempotent and returns the same error (an errors.Join) on every call.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = n.shutdown()
		n.log.Info("node closed", "err", n.closeErr)
	})
	return n.closeErr
}

// shutdown does the work of Close; it tolerates a partly built node.
func (n *Node) shutdown() error {
	n.mu.Lock()
	n.closed = true
	topics := make([]*topic, 0, len(n.topics))
	for _, t := range n.topics {
		topics = append(topics, t)
	}
	n.mu.Unlock()

	var errs []error
	for _, t := range topics {
		errs = append(errs, t.Close())
	}
	if n.mdns != nil {
		errs = append(errs, n.mdns.Close())
	}
	n.cancel() // bootstrap, reconnect and event loops, and pubsub through its parent context
	n.wg.Wait()
	if n.events != nil {
		n.events.Close()
	}
	if n.psCancel != nil {
		n.psCancel()
	}
	if n.dht != nil {
		if err := n.dht.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dht: %w", err))
		}
	}
	if err := n.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	return errors.Join(errs...)
}
