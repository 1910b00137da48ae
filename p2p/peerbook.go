package p2p

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p-kbucket/peerdiversity"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// The peer book is what the node redials after a restart, so an address
// in it is one this node will dial unasked. It holds only addresses the
// node has dialled itself and reached: the remote address of an outbound
// connection whose identify round completed (the peer proved its ID on
// it). Addresses a peer claims (identify's listen addresses, an inbound
// connection's source) are never kept, or a stranger could make every
// node that met it dial a victim after each restart.

// rewriteAfter: an unchanged entry is written again only when its last
// seen time is older than this, so busy nodes do not write on every
// identify round.
const rewriteAfter = 10 * time.Minute

// maxPerGroup bounds the remembered peers per diversity group
// (peerdiversity.IPGroupKey: an IPv4 /16 or legacy /8, an IPv6 ASN), so
// that one network cannot fill the book with its own peers.
const maxPerGroup = 2

// groupStaleAfter: a full group takes a new peer in place of its least
// recently seen member only once that member has not been seen for this
// long, so dead entries do not close a group for good while live ones
// cannot be pushed out.
const groupStaleAfter = 24 * time.Hour

// LAN exception: a peer mDNS found may be remembered at a private
// address. lanTTL is how long a find counts (a dial follows within the
// dial timeout); maxLANFinds bounds the finds kept.
const (
	lanTTL      = 10 * time.Minute
	maxLANFinds = 64
)

// recordVersion marks records written under the rules above. Records
// without it were written by earlier versions from identify's claimed
// addresses: on load they are kept aside (legacy), never stored again nor
// counted in the book, for one reconnect attempt; a peer that attempt
// reaches is stored anew by its outbound identify, and the other old
// records are deleted after it (dropLegacy). Dropping them at once would
// leave an upgraded node that was started without --peer alone.
const recordVersion = 2

// KnownPeer is one entry of the remembered peer list.
type KnownPeer struct {
	ID       peer.ID
	Addrs    []ma.Multiaddr // the address the node dialled it at
	LastSeen time.Time
}

// knownPeerRecord is the stored form of a KnownPeer, under /<peer-id>.
type knownPeerRecord struct {
	Version  int       `json:"v"`
	Addrs    []string  `json:"addrs"`
	LastSeen time.Time `json:"lastSeen"`
}

// peerBook remembers peers and the address the node reached each at, on
// a datastore, bounded to the max most recently seen and to maxPerGroup
// per diversity group. Safe for concurrent use.
type peerBook struct {
	store        ds.Batching
	max          int
	allowPrivate bool // Config.RememberPrivateAddrs
	log          *slog.Logger

	// judged counts the identify rounds identified has decided on, so that
	// a test can tell a peer left out from one not yet looked at.
	judged atomic.Int64

	mu     sync.Mutex
	peers  map[peer.ID]KnownPeer
	lan    map[peer.ID]time.Time // found by mDNS, when
	legacy map[peer.ID]KnownPeer // records older than recordVersion, until dropLegacy
}

// openPeerBook loads the list from store. Entries that do not parse are
// deleted and logged; entries that predate recordVersion are set aside for
// one reconnect attempt (see recordVersion). Neither fails the start.
func openPeerBook(ctx context.Context, store ds.Batching, max int, allowPrivate bool, log *slog.Logger) (*peerBook, error) {
	b := &peerBook{store: store, max: max, allowPrivate: allowPrivate, log: log,
		peers: make(map[peer.ID]KnownPeer), lan: make(map[peer.ID]time.Time),
		legacy: make(map[peer.ID]KnownPeer)}
	res, err := store.Query(ctx, query.Query{})
	if err != nil {
		return nil, fmt.Errorf("load known peers: %w", err)
	}
	defer res.Close()
	var bad []ds.Key
	old := 0
	for e := range res.Next() {
		if e.Error != nil {
			return nil, fmt.Errorf("load known peers: %w", e.Error)
		}
		kp, version, err := decodeKnownPeer(e.Key, e.Value)
		switch {
		case err != nil:
			log.Warn("dropping unreadable known peer", "key", e.Key, "err", err)
		case version < recordVersion:
			old++
			// Only addresses the rules allow (no LAN finds yet): one dial
			// of a claimed public address at upgrade is the price of
			// rejoining; private ones would let a stranger aim us at a LAN.
			kp.Addrs = slices.DeleteFunc(kp.Addrs, func(a ma.Multiaddr) bool { return !b.allowedLocked(a, false) })
			if len(kp.Addrs) > 0 {
				b.legacy[kp.ID] = kp
				continue
			}
		default:
			b.peers[kp.ID] = kp
			continue
		}
		bad = append(bad, ds.NewKey(e.Key))
	}
	if old > 0 {
		log.Info("known peers of the earlier format: trying them once, then keeping those that answer", "peers", old, "dialable", len(b.legacy))
	}
	for _, k := range bad {
		if err := store.Delete(ctx, k); err != nil {
			return nil, fmt.Errorf("delete known peer %s: %w", k, err)
		}
	}
	if err := b.prune(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeKnownPeer(key string, value []byte) (KnownPeer, int, error) {
	id, err := peer.Decode(ds.RawKey(key).BaseNamespace())
	if err != nil {
		return KnownPeer{}, 0, err
	}
	var rec knownPeerRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return KnownPeer{}, 0, err
	}
	kp := KnownPeer{ID: id, LastSeen: rec.LastSeen}
	for _, s := range rec.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return KnownPeer{}, 0, err
		}
		kp.Addrs = append(kp.Addrs, a)
	}
	if rec.Version >= recordVersion && len(kp.Addrs) == 0 {
		return KnownPeer{}, 0, fmt.Errorf("no address")
	}
	return kp, rec.Version, nil
}

func peerKey(id peer.ID) ds.Key { return ds.NewKey(id.String()) }

// foundOnLAN notes that mDNS found id, so that the connection the node
// is about to dial may be remembered at its private address.
func (b *peerBook) foundOnLAN(id peer.ID, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, at := range b.lan {
		if now.Sub(at) > lanTTL {
			delete(b.lan, p)
		}
	}
	if _, ok := b.lan[id]; !ok && len(b.lan) >= maxLANFinds {
		oldest := peer.ID("")
		for p, at := range b.lan {
			if oldest == "" || at.Before(b.lan[oldest]) {
				oldest = p
			}
		}
		delete(b.lan, oldest)
	}
	b.lan[id] = now
}

// identified records a connection whose identify round completed: an
// outbound one is remembered at its remote address if that address is
// allowed (see allowed) and the peer's diversity group has room; any
// other is ignored. It reports whether the peer is now remembered.
func (b *peerBook) identified(ctx context.Context, id peer.ID, c network.Conn, now time.Time) (bool, error) {
	defer b.judged.Add(1)
	if c == nil || c.Stat().Direction != network.DirOutbound {
		return false, nil
	}
	return b.dialled(ctx, id, c.RemoteMultiaddr(), now)
}

// dialled remembers that the node reached id at addr, within the rules.
func (b *peerBook) dialled(ctx context.Context, id peer.ID, addr ma.Multiaddr, now time.Time) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	lanAt, lan := b.lan[id]
	lan = lan && now.Sub(lanAt) <= lanTTL
	if !b.allowedLocked(addr, lan) {
		b.log.Debug("not remembering peer at a private address", "peer", id, "addr", addr)
		return false, nil
	}
	group, _ := groupOf(addr)
	old, ok := b.peers[id]
	if ok && now.Sub(old.LastSeen) < rewriteAfter && len(old.Addrs) == 1 && old.Addrs[0].Equal(addr) {
		return true, nil
	}
	var members []KnownPeer
	for _, kp := range b.peers {
		if kp.ID == id || len(kp.Addrs) == 0 {
			continue
		}
		if g, _ := groupOf(kp.Addrs[0]); g == group {
			members = append(members, kp)
		}
	}
	var evict []peer.ID
	if len(members) >= maxPerGroup {
		slices.SortFunc(members, func(x, y KnownPeer) int { return x.LastSeen.Compare(y.LastSeen) })
		for _, m := range members[:len(members)-maxPerGroup+1] {
			if now.Sub(m.LastSeen) < groupStaleAfter {
				b.log.Debug("not remembering peer: its address group is full", "peer", id, "group", group)
				return false, nil
			}
			evict = append(evict, m.ID)
		}
	}
	kp := KnownPeer{ID: id, Addrs: []ma.Multiaddr{addr}, LastSeen: now.UTC().Truncate(time.Second)}
	if err := b.putLocked(ctx, kp); err != nil {
		return false, err
	}
	if err := b.deleteLocked(ctx, evict); err != nil {
		return true, err
	}
	return true, b.prune(ctx)
}

// seen refreshes the last seen time of a remembered peer (on disconnect,
// whichever side dialled); a peer not in the book is not added.
func (b *peerBook) seen(ctx context.Context, id peer.ID, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	kp, ok := b.peers[id]
	if !ok || now.Sub(kp.LastSeen) < rewriteAfter {
		return nil
	}
	kp.LastSeen = now.UTC().Truncate(time.Second)
	return b.putLocked(ctx, kp)
}

// allowedLocked reports whether addr may be remembered: a public
// address, or any address of a peer mDNS found (LAN addresses are what it
// finds), or any address at all with Config.RememberPrivateAddrs (tests
// on 127.0.0.1). An address with no IP (none should reach here: remote
// addresses are resolved) is never allowed.
func (b *peerBook) allowedLocked(addr ma.Multiaddr, lan bool) bool {
	if _, ok := groupOf(addr); !ok {
		return false
	}
	return lan || b.allowPrivate || manet.IsPublicAddr(addr)
}

// groupOf returns the diversity group of addr's first IP (for a relayed
// address, the relay's).
func groupOf(addr ma.Multiaddr) (peerdiversity.PeerIPGroupKey, bool) {
	var ip net.IP
	ma.ForEach(addr, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			ip = net.IP(c.RawValue())
			return false
		}
		return true
	})
	if ip == nil {
		return "", false
	}
	key := peerdiversity.IPGroupKey(ip)
	// For an IPv6 address of no known ASN, IPGroupKey returns one constant
	// key (the /32 mask, not the prefix), which would put every such
	// peer in one group; use the /32 prefix as it means to.
	if ip.To4() == nil && strings.HasPrefix(string(key), "unknown ASN") {
		key = peerdiversity.PeerIPGroupKey("ip6/32 " + ip.Mask(net.CIDRMask(32, 128)).String())
	}
	return key, true
}

// putLocked stores kp and adds it to the map. Called with b.mu held.
func (b *peerBook) putLocked(ctx context.Context, kp KnownPeer) error {
	rec := knownPeerRecord{Version: recordVersion, LastSeen: kp.LastSeen}
	for _, a := range kp.Addrs {
		rec.Addrs = append(rec.Addrs, a.String())
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := b.store.Put(ctx, peerKey(kp.ID), v); err != nil {
		return fmt.Errorf("store known peer %s: %w", kp.ID, err)
	}
	b.peers[kp.ID] = kp
	return nil
}

// deleteLocked forgets ids. Called with b.mu held.
func (b *peerBook) deleteLocked(ctx context.Context, ids []peer.ID) error {
	if len(ids) == 0 {
		return nil
	}
	batch, err := b.store.Batch(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := batch.Delete(ctx, peerKey(id)); err != nil {
			return err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("forget known peers: %w", err)
	}
	for _, id := range ids {
		delete(b.peers, id)
	}
	return nil
}

// prune deletes the least recently seen entries beyond max. Called with
// b.mu held (or before b is shared).
func (b *peerBook) prune(ctx context.Context) error {
	if len(b.peers) <= b.max {
		return nil
	}
	var ids []peer.ID
	for _, kp := range b.sortedLocked()[b.max:] {
		ids = append(ids, kp.ID)
	}
	return b.deleteLocked(ctx, ids)
}

// sortedLocked returns the entries, most recently seen first.
func (b *peerBook) sortedLocked() []KnownPeer {
	out := make([]KnownPeer, 0, len(b.peers))
	for _, kp := range b.peers {
		out = append(out, kp)
	}
	slices.SortFunc(out, func(x, y KnownPeer) int {
		if c := y.LastSeen.Compare(x.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}

// legacyPeers returns up to n of the records kept aside at load, most
// recently seen first (none if n <= 0).
func (b *peerBook) legacyPeers(n int) []KnownPeer {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Collect(maps.Values(b.legacy))
	slices.SortFunc(out, func(x, y KnownPeer) int {
		if c := y.LastSeen.Compare(x.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out[:max(0, min(n, len(out)))]
}

// dropLegacy ends the upgrade after its reconnect attempt: the records of
// the earlier format are deleted, except those an outbound identify has
// replaced meanwhile with a record of this one (same key). Both run under
// b.mu, so a peer identified after this is simply stored anew.
func (b *peerBook) dropLegacy(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.legacy) == 0 {
		return nil
	}
	batch, err := b.store.Batch(ctx)
	if err != nil {
		return err
	}
	kept := 0
	for id := range b.legacy {
		if _, ok := b.peers[id]; ok {
			kept++
			continue
		}
		if err := batch.Delete(ctx, peerKey(id)); err != nil {
			return err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("forget old known peers: %w", err)
	}
	b.log.Info("known peers of the earlier format upgraded", "kept", kept, "dropped", len(b.legacy)-kept)
	clear(b.legacy)
	return nil
}

// recent returns up to n entries, most recently seen first (all if n < 0).
func (b *peerBook) recent(n int) []KnownPeer {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := b.sortedLocked()
	if n >= 0 && len(all) > n {
		all = all[:n]
	}
	return all
}

// KnownPeers returns the remembered peers, most recently seen first. It is
// empty when Config.Datastore is nil. Safe for concurrent use.
func (n *Node) KnownPeers() []KnownPeer {
	if n.book == nil {
		return nil
	}
	return n.book.recent(-1)
}
