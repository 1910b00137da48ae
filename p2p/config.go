package p2p

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// DHTMode selects how the node takes part in the Kademlia DHT.
type DHTMode string

// DHT modes accepted by Config.DHTMode.
const (
	// DHTModeAuto serves DHT requests only once the node is known to be
	// publicly reachable. It is the right mode for user nodes.
	DHTModeAuto DHTMode = "auto"
	// DHTModeServer always serves DHT requests. Bootstrap nodes use it.
	DHTModeServer DHTMode = "server"
	// DHTModeClient never serves DHT requests; it only queries.
	DHTModeClient DHTMode = "client"
)

// DefaultPort is the TCP and UDP port of the default listen addresses.
const DefaultPort = 4747

// ErrInvalidConfig is returned (wrapped) by Config.Validate, New and
// NewWithHost when a Config field is out of range or malformed.
var ErrInvalidConfig = errors.New("invalid config")

// Config configures a Node. Start from DefaultConfig and change what you
// need. New fills a zero field from DefaultConfig where zero means
// nothing (durations, sizes, DHTMode, UserAgent); where zero means
// something (no ListenAddrs, MDNS and NATPortMap off, ReconnectPeers,
// RoomMinPeers, ValidateTimeout, ConnMgrLow and ConnMgrGrace 0) it is kept,
// so the zero Config listens nowhere and finds peers only by
// BootstrapPeers. A Config is a plain value: New copies
// it and never modifies the caller's slices.
type Config struct {
	// ListenAddrs are the multiaddrs the host listens on (TCP and QUIC v1).
	// Empty means the node does not listen at all (it can still dial).
	// Ignored by NewWithHost. Default: all interfaces, port DefaultPort,
	// IPv4 and IPv6, TCP and QUIC.
	ListenAddrs []string

	// BootstrapPeers are full multiaddrs ending in /p2p/<peer-id>. The node
	// connects to them in the background (with backoff, for its whole
	// life), protects them in the connection manager and seeds the DHT with
	// them. No peer is built in: the default is empty.
	BootstrapPeers []string

	// DHTMode is DHTModeAuto (default), DHTModeServer or DHTModeClient.
	DHTMode DHTMode

	// RecordValidators holds the DHT record validator of each namespace
	// the caller stores records under (the key /<namespace>/…): this node
	// stores, serves and takes from a query only the records its
	// namespace's validator accepts, and Select picks the best of several.
	// The caller owns the record formats (node registers chat/e2ee's
	// key-bundle validator), so p2p knows none. A namespace is one path
	// segment, not kad-dht's own "pk" or "ipns"; a key in no registered
	// namespace is refused. Nil: kad-dht's namespaces only.
	RecordValidators map[string]record.Validator

	// Bootstrap runs a community bootstrap node: the DHT in server mode
	// (DHTMode auto becomes server; client is invalid), the circuit relay
	// v2 service (see relayResources) and the AutoNAT service for other
	// peers, reachability forced public unless ForceReachability says
	// otherwise (a bootstrap node is by definition reachable at the address
	// its operators hand out; AutoNAT could only confirm that once other
	// public peers exist), and resource limits sized for a small public
	// host (BootstrapResourceMemory, BootstrapResourceFDs) unless
	// ResourceMemory/ResourceFDs are set. It joins no topics of its own.
	// Without Bootstrap the node is a user node: AutoNAT client, hole
	// punching, and AutoRelay with the bootstrap peers as static relays.
	// Default false.
	Bootstrap bool

	// ForceReachability overrides AutoNAT's verdict: ReachabilityPublic or
	// ReachabilityPrivate. Empty (the default) detects it, except on a
	// Bootstrap node (see there). Tests use it to make a node on loopback
	// behave as if behind NAT. Ignored by NewWithHost.
	ForceReachability Reachability

	// ConnectionGater, if set, can refuse connections (see
	// go-libp2p core/connmgr.ConnectionGater). Ignored by NewWithHost.
	ConnectionGater connmgr.ConnectionGater

	// ResourceMemory (bytes) and ResourceFDs size the resource manager's
	// limits (go-libp2p rcmgr ScalingLimitConfig.Scale); set both or
	// neither. Zero means autoscale from the machine (1/8 of RAM, half the
	// file descriptor limit), except on a Bootstrap node. Ignored by
	// NewWithHost.
	ResourceMemory int64
	ResourceFDs    int

	// MDNS enables LAN discovery: the node announces itself and finds
	// other Parley nodes on the local network by multicast DNS (service
	// MDNSServiceName) and connects to them. Default true; tests must turn
	// it off.
	MDNS bool

	// Datastore, if set, remembers the peers this node has dialled (ID,
	// the public address it reached them at, last seen; see peerbook.go),
	// at most MaxKnownPeers of the most recent and 2 per address group,
	// and the node redials up to ReconnectPeers of them in the
	// background on start. The node writes only under the keys /<peer-id>
	// of this datastore, so give it a namespace (for example /peers). The
	// node does not close it. Nil (the default) keeps no peer list.
	Datastore ds.Batching

	// MaxKnownPeers bounds the remembered peer list. Default 200.
	MaxKnownPeers int

	// RememberPrivateAddrs lets the peer list keep private and loopback
	// addresses of peers mDNS did not find. Only for tests and benchmarks
	// on 127.0.0.1: a public node must not redial addresses inside its own
	// network. Default false.
	RememberPrivateAddrs bool

	// ReconnectPeers is how many remembered peers, most recent first, the
	// node dials on start. Default 50.
	ReconnectPeers int

	// RoomMinPeers: while a joined topic has fewer peers than this, the
	// node keeps searching the DHT for other members (rendezvous on the
	// topic name) with backoff between DiscoveryBackoffMin and
	// DiscoveryBackoffMax, and connects to those it finds. Default 6.
	RoomMinPeers int

	// DiscoveryBackoffMin and DiscoveryBackoffMax bound the delay between
	// room searches, and between retries of a failed advertisement.
	// Defaults: two seconds, two minutes.
	DiscoveryBackoffMin time.Duration
	DiscoveryBackoffMax time.Duration

	// ReadvertiseInterval is how often a joined topic's rendezvous record
	// is put into the DHT again (records on DHT servers expire after 48
	// hours, and a restarted bootstrap node forgets them; the node also
	// re-advertises whenever it connects to a bootstrap peer). Default 30
	// minutes.
	ReadvertiseInterval time.Duration

	// NATPortMap asks the gateway for a port mapping (UPnP / NAT-PMP).
	// Ignored by NewWithHost. Default true; tests must turn it off.
	NATPortMap bool

	// ConnMgrLow and ConnMgrHigh are the connection manager's watermarks:
	// above High it trims unprotected connections down to Low.
	// ConnMgrGrace is how long a new connection is exempt from trimming.
	// Ignored by NewWithHost (the injected host brings its own manager).
	// Defaults: 100, 400, one minute.
	ConnMgrLow   int
	ConnMgrHigh  int
	ConnMgrGrace time.Duration

	// UserAgent is announced through identify. Default "parley".
	UserAgent string

	// Registerer, if set, receives go-libp2p's own Prometheus metrics
	// (resource manager, swarm, identify, event bus, AutoNAT, relay…);
	// give each node its own registry. go-libp2p keeps these collectors in
	// package variables, so with several nodes in one process every
	// registry shows the process-wide values. Nil (the default) turns
	// libp2p's metrics off. NewWithHost (whose host is the caller's) only
	// registers Parley's own gossip counter with it.
	Registerer prometheus.Registerer

	// BootstrapBackoffMin and BootstrapBackoffMax bound the delay between
	// rounds of dialing bootstrap peers: it starts at Min, doubles while no
	// bootstrap peer is reachable, and once some are connected the node
	// re-checks every Max. Defaults: one second, one minute.
	BootstrapBackoffMin time.Duration
	BootstrapBackoffMax time.Duration

	// RelayRetry is how soon a private user node tries again to get a
	// relay reservation on its bootstrap peers (AutoRelay's static relays)
	// when none was reachable or offered the relay protocol yet, as after
	// a bootstrap restart. After a relay refused a reservation (it is
	// full, or holds its limit for our IP address) the node asks it again
	// after 2 minutes, or RelayRetry if longer. go-libp2p's defaults (30 s
	// and one hour) suit relays found on a public network; with a
	// community's few bootstrap nodes as its only relays, an hour without
	// a reservation would leave the node unreachable that long. Default
	// 15 seconds.
	RelayRetry time.Duration

	// DialTimeout bounds one dial of a bootstrap peer. Default 15 seconds.
	DialTimeout time.Duration

	// PeerOutboundQueueSize, ValidateQueueSize and ValidateThrottle size the
	// gossipsub queues (see the pubsub options of the same names), in
	// RPCs or messages of up to MaxMessageSize each, so that what
	// strangers can make the node hold is bounded in bytes: 1024 × 65 KiB
	// = 65 MiB of validation queue, 256 × 65 KiB = 16.25 MiB per peer of
	// outbound queue (see gossiplimits.go). Defaults: 256, 1024, 8192.
	// Topic validators run inline, so the validation queue is what absorbs
	// a burst: past it pubsub drops messages (sync fetches them later, at a
	// much higher cost) and the peer gater starts dropping the messages of
	// peers that deliver little before they are queued. ValidateThrottle
	// bounds asynchronous validators only, which Parley does not use.
	PeerOutboundQueueSize int
	ValidateQueueSize     int
	ValidateThrottle      int

	// SeenTTL is how long gossipsub remembers a message it has seen (to
	// drop duplicates; its cache is swept once a minute, so an ID stays
	// 30-90 s) and who delivered it (for peer scores). Default 30 s,
	// where pubsub's is 2 min: duplicates come from mesh peers within
	// milliseconds and from gossip within its 3 s IHAVE window (5 s of
	// message cache), so at least 5 s is required,
	// and at chat rates these per-message records are most of what a node
	// keeps live (78 % of the heap of a 10-node room at 100 msg/s after
	// 2.5 min). A copy that arrives after it is stored once only: the
	// ledger skips events it has.
	SeenTTL time.Duration

	// MeshDegree is gossipsub's D: how many peers of each room topic this
	// node relays every message to (it keeps between MeshDegree-1 and
	// 2×MeshDegree in its mesh, and offers message IDs to others by
	// gossip). Default 4, where gossipsub's is 6. Each node receives a
	// message about once per mesh peer, so the degree sets how many
	// redundant copies every node reads, checks and drops: in a 10-node
	// room 4.0–4.9 copies per delivery at D = 6 and 2.7–3.1 at D = 4 (see
	// docs/BENCHMARKS.md). Fewer copies cost a little redundancy and
	// somewhat more hops in large rooms; Parley does not rely on gossip
	// alone to deliver, since sync repairs whatever gossip missed.
	// 2 to 12.
	MeshDegree int

	// ValidateTimeout, if positive, bounds one call of a topic's validate
	// function for a message received from the network; a timed-out
	// message is ignored. Default 0: validators only compute (a timer per
	// message would cost more than it guards).
	ValidateTimeout time.Duration

	// OnTopicPeer, if set, is called (from a goroutine of the topic; it
	// must not block) when a peer joins a topic we joined. The node uses it
	// to reconcile the room's ledger with every new member at once.
	OnTopicPeer func(topic string, p peer.ID)

	// Logger is the parent logger; the node logs through
	// Logger.With("subsystem", "p2p"). Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the configuration for a user node: listen on every
// interface on port DefaultPort (TCP and QUIC, IPv4 and IPv6), DHT in auto
// mode, mDNS and NAT port mapping on, no bootstrap peers.
func DefaultConfig() Config {
	return Config{
		ListenAddrs: []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
			fmt.Sprintf("/ip6/::/tcp/%d", DefaultPort),
			fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultPort),
		},
		DHTMode:               DHTModeAuto,
		MDNS:                  true,
		NATPortMap:            true,
		ConnMgrLow:            100,
		ConnMgrHigh:           400,
		ConnMgrGrace:          time.Minute,
		UserAgent:             "parley",
		BootstrapBackoffMin:   time.Second,
		BootstrapBackoffMax:   time.Minute,
		RelayRetry:            15 * time.Second,
		DialTimeout:           15 * time.Second,
		PeerOutboundQueueSize: 256,
		ValidateQueueSize:     1024,
		ValidateThrottle:      8192,
		SeenTTL:               30 * time.Second,
		MeshDegree:            4,
		MaxKnownPeers:         200,
		ReconnectPeers:        50,
		RoomMinPeers:          6,
		DiscoveryBackoffMin:   2 * time.Second,
		DiscoveryBackoffMax:   2 * time.Minute,
		ReadvertiseInterval:   30 * time.Minute,
	}
}

// Resource limits of a Bootstrap node whose ResourceMemory and ResourceFDs
// are zero, sized for a small public host with 2 GiB of RAM and a file
// descriptor limit of at least 2048: libp2p may use half the RAM and 1024
// descriptors, which go-libp2p's scaling turns into (system scope) 128
// inbound / 256 total connections, 4096 streams, and a relay service scope
// of 512 streams. See docs/DISCOVERY.md.
const (
	BootstrapResourceMemory = 1 << 30
	BootstrapResourceFDs    = 1024
)

// withDefaults fills each zero field whose zero value means nothing from
// DefaultConfig, then the settings that depend on others (Bootstrap).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	fill(&c.DHTMode, d.DHTMode)
	fill(&c.UserAgent, d.UserAgent)
	fill(&c.ConnMgrHigh, d.ConnMgrHigh)
	fill(&c.MaxKnownPeers, d.MaxKnownPeers)
	fill(&c.PeerOutboundQueueSize, d.PeerOutboundQueueSize)
	fill(&c.ValidateQueueSize, d.ValidateQueueSize)
	fill(&c.ValidateThrottle, d.ValidateThrottle)
	fill(&c.MeshDegree, d.MeshDegree)
	fill(&c.BootstrapBackoffMin, d.BootstrapBackoffMin)
	fill(&c.BootstrapBackoffMax, d.BootstrapBackoffMax)
	fill(&c.RelayRetry, d.RelayRetry)
	fill(&c.DialTimeout, d.DialTimeout)
	fill(&c.SeenTTL, d.SeenTTL)
	fill(&c.DiscoveryBackoffMin, d.DiscoveryBackoffMin)
	fill(&c.DiscoveryBackoffMax, d.DiscoveryBackoffMax)
	fill(&c.ReadvertiseInterval, d.ReadvertiseInterval)
	if c.Bootstrap {
		if c.DHTMode == DHTModeAuto {
			c.DHTMode = DHTModeServer
		}
		if c.ForceReachability == "" {
			c.ForceReachability = ReachabilityPublic
		}
		if c.ResourceMemory == 0 {
			c.ResourceMemory = BootstrapResourceMemory
		}
		if c.ResourceFDs == 0 {
			c.ResourceFDs = BootstrapResourceFDs
		}
	}
	return c
}

// fill sets *v to def if *v is zero.
func fill[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports the first problem with c, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	for _, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return bad("listen address %q: %v", s, err)
		}
	}
	if _, err := parseBootstrapPeers(c.BootstrapPeers); err != nil {
		return bad("%v", err)
	}
	if _, err := c.DHTMode.option(); err != nil {
		return bad("%v", err)
	}
	for ns, v := range c.RecordValidators {
		switch {
		case ns == "" || strings.Contains(ns, "/"):
			return bad("DHT record namespace %q: want one path segment", ns)
		case ns == "pk" || ns == "ipns":
			return bad("DHT record namespace %q is kad-dht's own", ns)
		case v == nil:
			return bad("DHT record namespace %q: nil validator", ns)
		}
	}
	switch {
	case c.ConnMgrLow < 0 || c.ConnMgrHigh <= 0 || c.ConnMgrLow > c.ConnMgrHigh:
		return bad("connection manager watermarks low=%d high=%d: want 0 <= low <= high, high > 0", c.ConnMgrLow, c.ConnMgrHigh)
	case c.ConnMgrGrace < 0:
		return bad("negative connection manager grace period %v", c.ConnMgrGrace)
	case c.BootstrapBackoffMin <= 0 || c.BootstrapBackoffMax < c.BootstrapBackoffMin:
		return bad("bootstrap backoff min=%v max=%v: want 0 < min <= max", c.BootstrapBackoffMin, c.BootstrapBackoffMax)
	case c.RelayRetry <= 0:
		return bad("relay retry %v: want > 0", c.RelayRetry)
	case c.DialTimeout <= 0:
		return bad("dial timeout %v: want > 0", c.DialTimeout)
	case c.PeerOutboundQueueSize <= 0 || c.ValidateQueueSize <= 0 || c.ValidateThrottle <= 0:
		return bad("pubsub queue sizes must be positive (outbound=%d validate=%d throttle=%d)",
			c.PeerOutboundQueueSize, c.ValidateQueueSize, c.ValidateThrottle)
	case c.SeenTTL < 5*time.Second:
		return bad("seen TTL %v: want ≥ 5s (gossip offers a message for up to 5 s)", c.SeenTTL)
	case c.MeshDegree < 2 || c.MeshDegree > 12:
		return bad("mesh degree %d: want 2 to 12", c.MeshDegree)
	case c.ValidateTimeout < 0:
		return bad("validate timeout %v: want ≥ 0 (0: none)", c.ValidateTimeout)
	case c.Bootstrap && c.DHTMode == DHTModeClient:
		return bad("a bootstrap node cannot run the DHT in client mode")
	case c.ForceReachability != "" && c.ForceReachability != ReachabilityPublic && c.ForceReachability != ReachabilityPrivate:
		return bad("forced reachability %q: want %q, %q or empty", c.ForceReachability, ReachabilityPublic, ReachabilityPrivate)
	case c.ResourceMemory < 0 || c.ResourceFDs < 0 || (c.ResourceMemory == 0) != (c.ResourceFDs == 0):
		return bad("resource limits memory=%d fds=%d: want both zero or both positive", c.ResourceMemory, c.ResourceFDs)
	case c.MaxKnownPeers <= 0 || c.ReconnectPeers < 0:
		return bad("known peers max=%d reconnect=%d: want max > 0, reconnect >= 0", c.MaxKnownPeers, c.ReconnectPeers)
	case c.RoomMinPeers < 0:
		return bad("room min peers %d: want >= 0", c.RoomMinPeers)
	case c.DiscoveryBackoffMin <= 0 || c.DiscoveryBackoffMax < c.DiscoveryBackoffMin:
		return bad("discovery backoff min=%v max=%v: want 0 < min <= max", c.DiscoveryBackoffMin, c.DiscoveryBackoffMax)
	case c.ReadvertiseInterval <= 0:
		return bad("readvertise interval %v: want > 0", c.ReadvertiseInterval)
	}
	return nil
}

// logger returns the subsystem logger for c.
func (c Config) logger() *slog.Logger {
	l := c.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("subsystem", "p2p")
}

// parseBootstrapPeers parses full multiaddrs with /p2p/ into AddrInfos,
// merging addresses of the same peer.
func parseBootstrapPeers(addrs []string) ([]peer.AddrInfo, error) {
	var infos []peer.AddrInfo
	index := make(map[peer.ID]int)
	for _, s := range addrs {
		id, addr, err := parseP2pAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap peer: %w", err)
		}
		i, ok := index[id]
		if !ok {
			i = len(infos)
			index[id] = i
			infos = append(infos, peer.AddrInfo{ID: id})
		}
		if addr != nil {
			infos[i].Addrs = append(infos[i].Addrs, addr)
		}
	}
	return infos, nil
}
