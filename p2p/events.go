package p2p

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"

	"github.com/parley-chat/parley/internal/backoff"
)

// subscribeEvents subscribes to the host events the node follows. It is
// called before anything can happen that the node must not miss.
func (n *Node) subscribeEvents() (event.Subscription, error) {
	return n.host.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged),
		new(event.EvtAutoRelayAddrsUpdated),
		new(event.EvtPeerIdentificationCompleted),
		new(event.EvtPeerConnectednessChanged),
	}, eventbus.Name("parley"), eventbus.BufSize(256))
}

// watchEvents keeps Reachability and RelayAddrs current and the peer book
// up to date, until ctx is done.
func (n *Node) watchEvents(ctx context.Context, sub event.Subscription) {
	for {
		var e any
		select {
		case <-ctx.Done():
			return
		case e = <-sub.Out():
		}
		switch e := e.(type) {
		case event.EvtLocalReachabilityChanged:
			r := reachabilityOf(e.Reachability)
			n.reach.Store(r)
			n.log.Info("reachability changed", "reachability", r)
		case event.EvtAutoRelayAddrsUpdated:
			addrs := slices.Clone(e.RelayAddrs)
			n.relayAddrs.Store(&addrs)
			n.log.Info("relay addresses changed", "addrs", addrs)
		case event.EvtPeerIdentificationCompleted:
			// Not e.ListenAddrs: those are the peer's claim (see peerbook.go).
			n.remember(ctx, e.Peer, func(b *peerBook, now time.Time) error {
				_, err := b.identified(ctx, e.Peer, e.Conn, now)
				return err
			})
		case event.EvtPeerConnectednessChanged:
			if e.Connectedness == network.NotConnected {
				n.remember(ctx, e.Peer, func(b *peerBook, now time.Time) error {
					return b.seen(ctx, e.Peer, now)
				})
			}
		}
	}
}

// remember updates the peer book about id with f, if the node keeps a
// book.
func (n *Node) remember(ctx context.Context, id peer.ID, f func(*peerBook, time.Time) error) {
	if n.book == nil || id == n.host.ID() {
		return
	}
	if err := f(n.book, time.Now()); err != nil && ctx.Err() == nil {
		n.log.Warn("cannot remember peer", "peer", id, "err", err)
	}
}

// reconnectKnown dials up to Config.ReconnectPeers remembered peers, most
// recent first. While none of them answers and the node has no connection
// at all, it tries again with the bootstrap backoff; once the node is
// connected to anyone, the DHT and room discovery take over.
//
// Records of the earlier format (see recordVersion) join the first
// attempt only, at most ReconnectPeers of them: those reached are stored
// anew by their identify, and all of them are forgotten once it is over.
func (n *Node) reconnectKnown(ctx context.Context) {
	known := n.book.recent(n.cfg.ReconnectPeers)
	legacy := n.book.legacyPeers(n.cfg.ReconnectPeers)
	for _, kp := range known {
		n.host.Peerstore().AddAddrs(kp.ID, kp.Addrs, peerstore.AddressTTL)
	}
	if len(known)+len(legacy) > 0 {
		n.log.Info("reconnecting to known peers", "peers", len(known), "earlier_format", len(legacy))
	}
	b := backoff.Backoff{Min: n.cfg.BootstrapBackoffMin, Max: n.cfg.BootstrapBackoffMax}
	first := true
	for {
		if len(known)+len(legacy) == 0 {
			if first && ctx.Err() == nil {
				n.dropLegacy(ctx)
			}
			return
		}
		connected := n.dialAll(ctx, append(slices.Clip(known), legacy...))
		if first && ctx.Err() == nil { // a cut-short attempt is made again at the next start
			n.dropLegacy(ctx)
		}
		first, legacy = false, nil
		if connected > 0 {
			n.log.Info("reconnected to known peers", "peers", connected)
			n.kickDiscovery()
			return
		}
		if len(n.host.Network().Peers()) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.Next()):
		}
	}
}

// dropLegacy ends the peer book's upgrade (see peerBook.dropLegacy).
func (n *Node) dropLegacy(ctx context.Context) {
	if err := n.book.dropLegacy(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("cannot forget old known peers", "err", err)
	}
}

// reconnectParallelism bounds concurrent dials of remembered peers.
const reconnectParallelism = 8

// dialAll dials the peers that are not connected, a few at a time, and
// returns how many are connected afterwards.
func (n *Node) dialAll(ctx context.Context, peers []KnownPeer) int {
	var (
		already int          // connected before: counted by this loop
		dialled atomic.Int64 // connected by a dial goroutine
		wg      sync.WaitGroup
		sem     = make(chan struct{}, reconnectParallelism)
	)
	for _, kp := range peers {
		if n.host.Network().Connectedness(kp.ID) == network.Connected {
			already++
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return already + int(dialled.Load())
		}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
			defer cancel()
			if err := n.host.Connect(dctx, peer.AddrInfo{ID: kp.ID, Addrs: kp.Addrs}); err != nil {
				n.log.Debug("known peer dial failed", "peer", kp.ID, "err", err)
				return
			}
			dialled.Add(1)
		})
	}
	wg.Wait()
	return already + int(dialled.Load())
}

// kicked returns a channel that is closed at the next kickDiscovery.
func (n *Node) kicked() <-chan struct{} {
	n.kickMu.Lock()
	defer n.kickMu.Unlock()
	return n.kickCh
}

// kickDiscovery wakes every topic's discovery loop to advertise and search
// now, for example because a bootstrap peer has just been (re)connected.
func (n *Node) kickDiscovery() {
	n.kickMu.Lock()
	defer n.kickMu.Unlock()
	close(n.kickCh)
	n.kickCh = make(chan struct{})
}
