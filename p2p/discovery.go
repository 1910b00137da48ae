package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-chat/parley/internal/backoff"
)

// Room discovery is DHT rendezvous on the topic name (or the string given
// WithRendezvous, which SetRendezvous changes): every member
// advertises itself as a provider of the name's hash
// (RoutingDiscovery.Advertise, a DHT provider record) and looks up the
// other providers (FindPeers). Each joined topic runs one goroutine,
// discover, owned by the topic and stopped by Topic.Close. pubsub's own
// WithDiscovery is not used: its advertise loop cannot be waited for, its
// retry after a failed advertisement (no DHT peer yet) is fixed at two
// minutes, and it cannot fall back to relays.

const (
	// tagRoom marks connections to peers found in a room, so that the
	// connection manager prefers to keep them.
	tagRoom    = "parley-room"
	roomWeight = 20
	// maxDialsPerSearch bounds the peers dialed after one search.
	maxDialsPerSearch = 16
	// findLimit bounds the providers one search returns.
	findLimit = 64
)

// newRoutingDiscovery wraps the DHT for rendezvous.
func (n *Node) newRoutingDiscovery() *drouting.RoutingDiscovery {
	return drouting.NewRoutingDiscovery(n.dht)
}

// discover advertises the topic and searches for its members until ctx
// is done. While the topic has fewer than RoomMinPeers peers it searches
// again after a delay that starts at DiscoveryBackoffMin and doubles up to
// DiscoveryBackoffMax (back to the minimum when a search connects someone
// new); otherwise it only checks every DiscoveryBackoffMax. A failed
// advertisement is retried with the same backoff, a successful one after
// ReadvertiseInterval. A bootstrap peer (re)connecting wakes it up, and
// so does SetRendezvous, after which only the new string is advertised
// and searched ("" : neither).
func (t *topic) discover(ctx context.Context) {
	n, cfg := t.node, t.node.cfg
	var (
		nextAdvertise time.Time // zero: now
		adv           = backoff.Backoff{Min: cfg.DiscoveryBackoffMin, Max: cfg.DiscoveryBackoffMax}
		find          = adv
		timer         = time.NewTimer(0)
	)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.kicked():
			nextAdvertise = time.Time{}
			adv.Reset()
			find.Reset()
		case <-t.rvChanged:
			nextAdvertise = time.Time{}
			adv.Reset()
			find.Reset()
		}
		rv := t.rendezvous()
		if rv == "" { // no DHT discovery: wait for a new string
			timer.Reset(cfg.DiscoveryBackoffMax)
			continue
		}
		wait := cfg.DiscoveryBackoffMax
		if len(t.topic.ListPeers()) < cfg.RoomMinPeers {
			if n.findAndConnect(ctx, rv) > 0 {
				find.Reset()
			}
			wait = find.Next()
		} else {
			find.Reset()
		}
		if now := time.Now(); !now.Before(nextAdvertise) {
			if _, err := n.disc.Advertise(ctx, rv); err != nil {
				if ctx.Err() != nil {
					return
				}
				retry := adv.Next()
				t.log.Debug("advertise failed", "err", err, "retry", retry)
				nextAdvertise = now.Add(retry)
			} else {
				t.log.Debug("advertised")
				nextAdvertise = now.Add(cfg.ReadvertiseInterval)
				adv.Reset()
			}
		}
		timer.Reset(max(0, min(wait, time.Until(nextAdvertise))))
	}
}

// findAndConnect looks up the members of topic name in the DHT and dials
// up to maxDialsPerSearch of those not connected yet, in parallel. It
// returns how many it connected.
func (n *Node) findAndConnect(ctx context.Context, name string) int {
	fctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	ch, err := n.disc.FindPeers(fctx, name)
	if err != nil {
		n.log.Debug("room search failed", "topic", name, "err", err)
		return 0
	}
	var found []peer.AddrInfo
	for ai := range ch {
		if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		if len(found) < maxDialsPerSearch {
			found = append(found, ai)
		}
	}
	var (
		mu        sync.Mutex
		connected int
		wg        sync.WaitGroup
	)
	for _, ai := range found {
		wg.Go(func() {
			if n.connectFound(ctx, ai) {
				mu.Lock()
				connected++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if connected > 0 {
		n.log.Info("found room members", "topic", name, "connected", connected)
	}
	return connected
}

// connectFound dials a peer found by discovery. When the direct dial
// fails (the peer is behind NAT and its addresses are private, or a
// firewall is in the way), it tries again through each connected bootstrap
// peer as a circuit relay v2 (/p2p/<relay>/p2p-circuit/p2p/<peer>); that
// works when the peer holds a reservation there, which AutoRelay makes for
// every private user node. It reports whether the peer is connected.
func (n *Node) connectFound(ctx context.Context, ai peer.AddrInfo) bool {
	dial := func(ai peer.AddrInfo) error {
		dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
		defer cancel()
		return n.host.Connect(dctx, ai)
	}
	err := dial(ai)
	if err != nil && ctx.Err() == nil && !n.cfg.Bootstrap {
		if relayed := n.circuitAddrs(ai.ID); len(relayed) > 0 {
			n.log.Debug("direct dial failed, trying relays", "peer", ai.ID, "err", err)
			err = dial(peer.AddrInfo{ID: ai.ID, Addrs: relayed})
		}
	}
	if err != nil {
		n.log.Debug("cannot connect to room member", "peer", ai.ID, "err", err)
		return false
	}
	n.host.ConnManager().TagPeer(ai.ID, tagRoom, roomWeight)
	return true
}

// circuitAddrs returns addresses of target through every connected
// bootstrap peer, built on the address of our connection to that peer.
func (n *Node) circuitAddrs(target peer.ID) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, relay := range n.bootstrap {
		if relay.ID == target {
			continue
		}
		for _, c := range n.host.Network().ConnsToPeer(relay.ID) {
			if isCircuit(c.RemoteMultiaddr()) {
				continue
			}
			circuit, err := ma.NewMultiaddr("/p2p/" + relay.ID.String() + "/p2p-circuit")
			if err != nil {
				continue
			}
			out = append(out, c.RemoteMultiaddr().Encapsulate(circuit))
			break
		}
	}
	return out
}

// mdnsNotifee connects to the Parley nodes mDNS finds on the LAN.
type mdnsNotifee struct{ n *Node }

// HandlePeerFound implements mdns.Notifee. The mDNS service calls it on
// goroutines it does not wait for, so the dial runs on a goroutine of the
// node, started only while the node is open (under n.mu, which Close takes
// to mark the node closed before it waits for the node's goroutines).
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	if n.book != nil {
		n.book.foundOnLAN(ai.ID, time.Now()) // may be remembered at its LAN address
	}
	n.wg.Go(func() {
		dctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
		defer cancel()
		if err := n.host.Connect(dctx, ai); err != nil {
			n.log.Debug("mdns peer dial failed", "peer", ai.ID, "err", err)
			return
		}
		n.log.Info("connected to lan peer", "peer", ai.ID)
		n.kickDiscovery()
	})
}
