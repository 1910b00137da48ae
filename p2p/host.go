package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-chat/parley/p2p/keyx"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

var (
	// ErrBadAddr is returned (wrapped) when a peer address is not a valid multiaddr.
	ErrBadAddr = errors.New("p2p: invalid multiaddr")
	// ErrNoPeerID is returned (wrapped) when a peer address lacks its final
	// /p2p/<peer-id> component.
	ErrNoPeerID = errors.New("p2p: multiaddr has no /p2p/<peer-id> component")
	// ErrSelf is returned by Connect when the address is the node's own.
	ErrSelf = errors.New("p2p: cannot connect to self")
	// ErrNoAddrs is returned by Connect when an address has only a peer ID
	// and the DHT does not know where that peer is either.
	ErrNoAddrs = errors.New("p2p: no known addresses for peer")
)

// Connection manager tags.
const (
	tagBootstrap = "parley-bootstrap" // protected: never trimmed
	tagManual    = "parley-manual"    // Connect: preferred when trimming
	manualWeight = 50
)

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID peer.ID
	// Addrs are the remote multiaddrs of the open connections to ID
	// (without /p2p/), one per distinct address.
	Addrs []string
}

// newHost builds the libp2p host: TCP and QUIC v1, Noise and TLS, yamux
// (over coalescing connections, see coalescingMuxer),
// the connection manager, the resource manager (resourceLimits), the NAT
// traversal and bootstrap services of natOptions, the connection gater if
// any, libp2p's metrics only if cfg.Registerer, and, only if
// cfg.NATPortMap, UPnP/NAT-PMP port mapping. On error
// nothing is left running.
func newHost(key crypto.PrivKey, cfg Config, bootstrap []peer.AddrInfo) (host.Host, error) {
	cm, err := connmgr.NewConnManager(cfg.ConnMgrLow, cfg.ConnMgrHigh, connmgr.WithGracePeriod(cfg.ConnMgrGrace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	var rmOpts []rcmgr.Option
	if cfg.Registerer == nil {
		rmOpts = append(rmOpts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(cfg)), rmOpts...)
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, coalescingMuxer{yamux.DefaultTransport}),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.UserAgent(cfg.UserAgent),
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	opts = append(opts, natOptions(cfg, bootstrap)...)
	if cfg.ConnectionGater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.ConnectionGater))
	}
	// Listening happens below, once the host is built: when libp2p.New
	// itself fails to listen, it leaves the AutoNAT v2 and hole punching
	// goroutines running (go-libp2p v0.51), while h.Close cleans up all.
	// NoListenAddrs also keeps libp2p from its own defaults (0.0.0.0), and
	// turns off the relay transport, which we want: circuits are dialed and
	// accepted through it (EnableRelay must come after NoListenAddrs).
	opts = append(opts, libp2p.NoListenAddrs, libp2p.EnableRelay())
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p closes them on most failure paths, not all; both Close
		// methods tolerate a second call.
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	if len(cfg.ListenAddrs) > 0 {
		addrs := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
		for _, s := range cfg.ListenAddrs {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				return nil, errors.Join(fmt.Errorf("listen address %q: %w", s, err), h.Close())
			}
			addrs = append(addrs, a)
		}
		if err := h.Network().Listen(addrs...); err != nil {
			return nil, errors.Join(fmt.Errorf("listen: %w", err), h.Close())
		}
	}
	return h, nil
}

// resourceLimits are go-libp2p's default limits plus its limits for the
// services Parley uses (identify, ping, AutoNAT, hole punching, relay)
// and ledger sync's (ledgersync.AddServiceLimits: streams and frame memory
// per peer and in all) and key exchange's (keyx.AddServiceLimits) and the private-room protocols'
// (E2EEServiceName), scaled to cfg.ResourceMemory and cfg.ResourceFDs
// when set (always on a bootstrap node, see Config.withDefaults) or to the
// machine otherwise.
func resourceLimits(cfg Config) rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	ledgersync.AddServiceLimits(&limits)
	keyx.AddServiceLimits(&limits)
	limits.AddServiceLimit(E2EEServiceName, rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 1 << 20}, rcmgr.BaseLimitIncrease{})
	limits.AddServicePeerLimit(E2EEServiceName, rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 2, Streams: 4, Memory: 256 << 10}, rcmgr.BaseLimitIncrease{})
	if cfg.ResourceMemory > 0 {
		return limits.Scale(cfg.ResourceMemory, cfg.ResourceFDs)
	}
	return limits.AutoScale()
}

// E2EEServiceName is the resource-manager scope of the private-room
// stream protocols (node's invite admission and DM hand-over): few
// streams per peer and in all, each a small request and answer.
const E2EEServiceName = "parley.e2ee"

// parseP2pAddr parses a multiaddr that ends in /p2p/<peer-id>. The returned
// transport address is nil when s is only /p2p/<peer-id>.
func parseP2pAddr(s string) (peer.ID, ma.Multiaddr, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", nil, fmt.Errorf("%w %q: %w", ErrBadAddr, s, err)
	}
	transport, id := peer.SplitAddr(m)
	if id == "" {
		return "", nil, fmt.Errorf("%w: %q", ErrNoPeerID, s)
	}
	return id, transport, nil
}

// Connect dials the peer at addr, a full multiaddr ending in
// /p2p/<peer-id>, and blocks until connected or ctx is done. The address
// is added to the peerstore. A bare /p2p/<peer-id> is looked up in the
// peerstore and then the DHT. Bootstrap peers are protected in the
// connection manager; other peers connected this way are tagged so that
// trimming prefers to keep them. Errors wrap ErrBadAddr, ErrNoPeerID,
// ErrSelf or ErrNoAddrs where they apply. Safe for concurrent use.
func (n *Node) Connect(ctx context.Context, addr string) error {
	id, transport, err := parseP2pAddr(addr)
	if err != nil {
		return err
	}
	if id == n.host.ID() {
		return fmt.Errorf("%w: %s", ErrSelf, addr)
	}
	info := peer.AddrInfo{ID: id}
	if transport != nil {
		info.Addrs = []ma.Multiaddr{transport}
		n.host.Peerstore().AddAddrs(id, info.Addrs, peerstore.AddressTTL)
	} else if len(n.host.Peerstore().Addrs(id)) == 0 {
		if info, err = n.dht.FindPeer(ctx, id); err != nil {
			return fmt.Errorf("%w %s: %w", ErrNoAddrs, id, err)
		}
	}
	if n.isBootstrap(id) {
		n.host.ConnManager().Protect(id, tagBootstrap)
	} else {
		n.host.ConnManager().TagPeer(id, tagManual, manualWeight)
	}
	if err := n.host.Connect(ctx, info); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", id, err)
	}
	n.log.Info("connected", "peer", id)
	return nil
}

// Addrs returns the node's full multiaddrs, each ending in /p2p/<id>.
// When listening on an unspecified address (0.0.0.0, ::) the host reports
// the concrete interface addresses.
func (n *Node) Addrs() []string {
	mas, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(mas))
	for i, m := range mas {
		out[i] = m.String()
	}
	return out
}

// Peers returns the currently connected peers, sorted by ID, with the
// remote addresses of their connections.
func (n *Node) Peers() []PeerInfo {
	ids := n.host.Network().Peers()
	slices.Sort(ids)
	out := make([]PeerInfo, 0, len(ids))
	for _, id := range ids {
		pi := PeerInfo{ID: id}
		for _, c := range n.host.Network().ConnsToPeer(id) {
			if a := c.RemoteMultiaddr().String(); !slices.Contains(pi.Addrs, a) {
				pi.Addrs = append(pi.Addrs, a)
			}
		}
		out = append(out, pi)
	}
	return out
}
