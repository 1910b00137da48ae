package p2p

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/parley-chat/parley/internal/backoff"
)

// DHTProtocolPrefix makes the DHT a private Parley network
// (/parley/kad/1.0.0), apart from the public IPFS DHT.
const DHTProtocolPrefix = "/parley"

// option maps m to the kad-dht mode.
func (m DHTMode) option() (dht.ModeOpt, error) {
	switch m {
	case DHTModeAuto:
		return dht.ModeAuto, nil
	case DHTModeServer:
		return dht.ModeServer, nil
	case DHTModeClient:
		return dht.ModeClient, nil
	}
	return 0, fmt.Errorf("DHT mode %q: want %q, %q or %q", m, DHTModeAuto, DHTModeServer, DHTModeClient)
}

// newDHT starts the Kademlia DHT on h. Its only bootstrap peers are ours:
// kad-dht's public IPFS defaults are never used. Besides kad-dht's own
// namespaces it stores records under the caller's (cfg.RecordValidators),
// each only if its namespace's validator accepts it.
func newDHT(h host.Host, cfg Config, bootstrap []peer.AddrInfo) (*dht.IpfsDHT, error) {
	mode, err := cfg.DHTMode.option()
	if err != nil {
		return nil, err
	}
	opts := []dht.Option{
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.Mode(mode),
		dht.BootstrapPeers(bootstrap...),
	}
	for ns, v := range cfg.RecordValidators {
		opts = append(opts, dht.NamespacedValidator(ns, v))
	}
	d, err := dht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	return d, nil
}

// isBootstrap reports whether id is one of the configured bootstrap peers.
func (n *Node) isBootstrap(id peer.ID) bool {
	return slices.ContainsFunc(n.bootstrap, func(ai peer.AddrInfo) bool { return ai.ID == id })
}

// maintainBootstrap keeps the node connected to its bootstrap peers until
// ctx is done. Each round dials, in parallel, every bootstrap peer that is
// not connected; when a round connects a new peer the DHT routing table is
// refreshed and every topic's discovery loop is woken up. The delay between rounds starts at BootstrapBackoffMin,
// doubles while no bootstrap peer is connected, and is BootstrapBackoffMax
// once at least one is.
func (n *Node) maintainBootstrap(ctx context.Context) {
	b := backoff.Backoff{Min: n.cfg.BootstrapBackoffMin, Max: n.cfg.BootstrapBackoffMax}
	reached := false // once a round has connected one, every wait is Max
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		connected, fresh := n.dialBootstrap(ctx)
		if fresh > 0 && ctx.Err() == nil {
			if err := n.dht.Bootstrap(ctx); err != nil {
				n.log.Warn("dht bootstrap failed", "err", err)
			}
			n.kickDiscovery() // advertise and search rooms now
		}
		reached = reached || connected > 0
		wait := n.cfg.BootstrapBackoffMax
		if !reached {
			wait = b.Next()
		}
		if connected == 0 {
			n.log.Warn("no bootstrap peer reachable", "peers", len(n.bootstrap), "retry", wait)
		}
		timer.Reset(wait)
	}
}

// dialBootstrap dials the bootstrap peers that are not connected and
// returns how many are connected now and how many of those are new.
func (n *Node) dialBootstrap(ctx context.Context) (connected, fresh int) {
	var (
		already int          // connected before: counted by this loop
		dialled atomic.Int64 // connected by a dial goroutine
		wg      sync.WaitGroup
	)
	for _, ai := range n.bootstrap {
		if n.host.Network().Connectedness(ai.ID) == network.Connected {
			already++
			continue
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
			defer cancel()
			if err := n.host.Connect(dctx, ai); err != nil {
				if ctx.Err() == nil {
					n.log.Debug("bootstrap dial failed", "peer", ai.ID, "err", err)
				}
				return
			}
			n.log.Info("connected to bootstrap peer", "peer", ai.ID)
			dialled.Add(1)
		})
	}
	wg.Wait()
	fresh = int(dialled.Load())
	return already + fresh, fresh
}

// addBootstrapPeers records the bootstrap peers' addresses permanently and
// protects them in the connection manager.
func addBootstrapPeers(h host.Host, infos []peer.AddrInfo) {
	for _, ai := range infos {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		h.ConnManager().Protect(ai.ID, tagBootstrap)
	}
}
