package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// Reachability is whether the node can be dialed from the internet, as
// AutoNAT found it (or as Config.ForceReachability set it).
type Reachability string

// Reachability values reported by Node.Reachability.
const (
	ReachabilityUnknown Reachability = "unknown"
	ReachabilityPublic  Reachability = "public"
	ReachabilityPrivate Reachability = "private"
)

// reachabilityOf maps libp2p's value.
func reachabilityOf(r network.Reachability) Reachability {
	switch r {
	case network.ReachabilityPublic:
		return ReachabilityPublic
	case network.ReachabilityPrivate:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}

// Relay service limits of a Bootstrap node.
//
// Circuits carry no per-connection duration or data limit. go-libp2p marks
// a relayed connection "limited" whenever the relay announces a limit, and
// gossipsub (go-libp2p-pubsub v0.19) refuses limited connections: it only
// opens streams to peers whose connectedness is network.Connected. With the
// go-libp2p defaults (2 minutes, 128 KiB) two members who can only reach
// each other through the relay could coordinate a hole punch but never
// chat. So a Parley relay forwards room traffic for as long as both ends
// keep the circuit, and is bounded instead by the number of reservations
// and circuits below and by the resource manager's limits for the relay
// service (libp2p.SetDefaultServiceLimits). Chat traffic is small.
const (
	RelayMaxReservations      = 512 // peers that may hold a reservation at once
	RelayMaxCircuits          = 32  // open circuits per peer (either end)
	RelayMaxReservationsPerIP = 8   // members behind one NAT
	RelayReservationTTL       = time.Hour
)

// relayRefusedBackoff is how long a user node waits before it asks again a
// relay that refused it a reservation: a full relay is not asked by every
// member every few seconds.
const relayRefusedBackoff = 2 * time.Minute

// relayResources are the circuit relay v2 service's resources.
func relayResources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.Limit = nil
	rc.ReservationTTL = RelayReservationTTL
	rc.MaxReservations = RelayMaxReservations
	rc.MaxCircuits = RelayMaxCircuits
	rc.MaxReservationsPerIP = RelayMaxReservationsPerIP
	return rc
}

// natOptions are the libp2p options for NAT traversal and the services a
// bootstrap node offers.
//
// Every node runs the AutoNAT v1 client (libp2p's default) and AutoNAT v2.
// A bootstrap node adds the AutoNAT service (dial-backs for others) and the
// circuit relay v2 service; go-libp2p starts the relay service only while
// the host's reachability is public, hence the forced reachability of
// bootstrap nodes (Config.withDefaults). A user node adds hole punching
// (DCUtR) and, when it has bootstrap peers, AutoRelay with those peers as
// its static relays: once AutoNAT finds the node private, it reserves a
// slot on them and advertises /p2p-circuit addresses through them,
// retrying after Config.RelayRetry when it could not (after
// relayRefusedBackoff when a relay refused).
func natOptions(cfg Config, bootstrap []peer.AddrInfo) []libp2p.Option {
	opts := []libp2p.Option{libp2p.EnableAutoNATv2()}
	switch cfg.ForceReachability {
	case ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if cfg.Bootstrap {
		return append(opts,
			libp2p.EnableNATService(),
			libp2p.EnableRelayService(relayv2.WithResources(relayResources())),
		)
	}
	opts = append(opts, libp2p.EnableHolePunching())
	if len(bootstrap) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(bootstrap,
			autorelay.WithMinInterval(cfg.RelayRetry),
			autorelay.WithBackoff(max(cfg.RelayRetry, relayRefusedBackoff)),
		))
	}
	return opts
}

// isCircuit reports whether a is a relayed (/p2p-circuit) address.
func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// Reachability reports whether the node is reachable from the internet:
// "public", "private" (behind NAT; it then relies on relays and hole
// punching) or "unknown" (AutoNAT has no verdict yet, as on a LAN or on
// loopback). Safe for concurrent use.
func (n *Node) Reachability() Reachability {
	if r, ok := n.reach.Load().(Reachability); ok {
		return r
	}
	return ReachabilityUnknown
}

// RelayAddrs returns the node's relayed addresses (full multiaddrs ending
// in /p2p-circuit/p2p/<id>), through which peers reach it while it is
// private. Empty while the node holds no relay reservation with a public
// relay address. Safe for concurrent use.
func (n *Node) RelayAddrs() []string {
	out := []string{}
	p := n.relayAddrs.Load()
	if p == nil {
		return out
	}
	for _, a := range *p {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+n.host.ID().String())).String())
	}
	return out
}
