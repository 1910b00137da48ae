package p2p

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
var ErrInvalidConfig = errors.New("p2p: invalid config")

// Config configures a Node. Start from DefaultConfig and change what you
// need; the zero Config is not valid. A Config is a plain value: New copies
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

	// MDNS enables LAN discovery. Reserved: this version of the package does
	// not implement mDNS yet and only logs that it is unavailable. Default
	// true, so that the setting takes effect once it lands.
	MDNS bool

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

	// BootstrapBackoffMin and BootstrapBackoffMax bound the delay between
	// rounds of dialing bootstrap peers: it starts at Min, doubles while no
	// bootstrap peer is reachable, and once some are connected the node
	// re-checks every Max. Defaults: one second, one minute.
	BootstrapBackoffMin time.Duration
	BootstrapBackoffMax time.Duration

	// DialTimeout bounds one dial of a bootstrap peer. Default 15 seconds.
	DialTimeout time.Duration

	// PeerOutboundQueueSize, ValidateQueueSize and ValidateThrottle size the
	// gossipsub queues (see the pubsub options of the same names).
	// Defaults: 1024, 1024, 8192.
	PeerOutboundQueueSize int
	ValidateQueueSize     int
	ValidateThrottle      int

	// ValidateTimeout bounds one call of a topic's validate function for
	// a message received from the network; a timed-out message is ignored.
	// Default 10 seconds.
	ValidateTimeout time.Duration

	// TopicBufferSize is the subscription buffer of each joined topic: how
	// many accepted messages may wait for deliver before pubsub drops
	// messages for this topic. Default 1024.
	TopicBufferSize int

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
		DialTimeout:           15 * time.Second,
		PeerOutboundQueueSize: 1024,
		ValidateQueueSize:     1024,
		ValidateThrottle:      8192,
		ValidateTimeout:       10 * time.Second,
		TopicBufferSize:       1024,
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
	switch {
	case c.ConnMgrLow < 0 || c.ConnMgrHigh <= 0 || c.ConnMgrLow > c.ConnMgrHigh:
		return bad("connection manager watermarks low=%d high=%d: want 0 <= low <= high, high > 0", c.ConnMgrLow, c.ConnMgrHigh)
	case c.ConnMgrGrace < 0:
		return bad("negative connection manager grace period %v", c.ConnMgrGrace)
	case c.BootstrapBackoffMin <= 0 || c.BootstrapBackoffMax < c.BootstrapBackoffMin:
		return bad("bootstrap backoff min=%v max=%v: want 0 < min <= max", c.BootstrapBackoffMin, c.BootstrapBackoffMax)
	case c.DialTimeout <= 0:
		return bad("dial timeout %v: want > 0", c.DialTimeout)
	case c.PeerOutboundQueueSize <= 0 || c.ValidateQueueSize <= 0 || c.ValidateThrottle <= 0:
		return bad("pubsub queue sizes must be positive (outbound=%d validate=%d throttle=%d)",
			c.PeerOutboundQueueSize, c.ValidateQueueSize, c.ValidateThrottle)
	case c.ValidateTimeout <= 0:
		return bad("validate timeout %v: want > 0", c.ValidateTimeout)
	case c.TopicBufferSize <= 0:
		return bad("topic buffer size %d: want > 0", c.TopicBufferSize)
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
