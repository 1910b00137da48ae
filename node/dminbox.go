package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/backoff"
)

// DMInboxProtocol fetches the first messages a node holds for the
// asking peer (docs/PROTOCOL.md "Direct messages"): the request is a
// bundle hash (32 bytes); the answer is uvarint n ‖ n × (uvarint length ‖
// encoded e2ee.DMInit), then one byte 0. Only what the outbox holds for
// the stream's remote peer, sealed to that bundle, is answered: at most
// chat.MaxInboxAnswer, each at most e2ee.MaxDMInitSize.
const DMInboxProtocol protocol.ID = "/parley/dm-inbox/1.0.0"

// DMInboxConfig sets the inbox's timing.
type DMInboxConfig struct {
	// Interval is how often the outbox is pushed again to connected
	// recipients and the node's own inboxes are searched. Zero means 5
	// minutes.
	Interval time.Duration
	// Readvertise is how often a held inbox key is advertised again
	// (DHT provider records expire after a day). Zero means an hour.
	Readvertise time.Duration
	// RetryMin is the first delay before searching again while the DHT
	// has no peers or a search fails, doubling up to Interval. Zero
	// means one second.
	RetryMin time.Duration
}

// DefaultDMInboxConfig returns the defaults.
func DefaultDMInboxConfig() DMInboxConfig { return DMInboxConfig{}.withDefaults() }

func (c DMInboxConfig) withDefaults() DMInboxConfig {
	if c.Interval == 0 {
		c.Interval = 5 * time.Minute
	}
	if c.Readvertise == 0 {
		c.Readvertise = time.Hour
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Second
	}
	return c
}

// Validate reports a setting out of range.
func (c DMInboxConfig) Validate() error {
	if c.Interval < 0 || c.Readvertise < 0 || c.RetryMin < 0 {
		return errors.New("dm inbox config: negative duration")
	}
	return nil
}

// dmInbox runs both sides of the inbox: as a holder it pushes queued
// conversations again (when their recipient connects, and every
// Interval) and advertises their inbox keys; as a recipient it searches
// the inbox keys of its live bundles and takes what holders answer. One
// goroutine, loop, stopped by close.
type dmInbox struct {
	cfg     DMInboxConfig
	host    host.Host
	disc    *drouting.RoutingDiscovery
	routed  func() bool // the DHT has peers
	own     func() []*e2ee.SignedBundle
	chat    *chat.Service
	deliver *dmDelivery
	guard   *e2eeGuard
	log     *slog.Logger

	kick   chan struct{} // capacity 1: push the outbox now
	notify network.Notifiee
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	advertised map[[32]byte]time.Time // loop's own
}

func newDMInbox(n *Node, d *dmDelivery, cfg DMInboxConfig) *dmInbox {
	h := n.p2p.Host()
	dht := n.p2p.DHT()
	in := &dmInbox{cfg: cfg.withDefaults(), host: h, disc: drouting.NewRoutingDiscovery(dht),
		routed:  func() bool { return dht.RoutingTable().Size() > 0 },
		own:     func() []*e2ee.SignedBundle { return n.bundles.ring.live(time.Now()) },
		deliver: d, guard: newE2EEGuard(h, DMInboxProtocol), log: n.log.With("part", "dm-inbox"),
		kick: make(chan struct{}, 1), advertised: map[[32]byte]time.Time{}}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	d.failed = in.wake
	return in
}

// wake makes the loop push the outbox (and advertise) now.
func (in *dmInbox) wake() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// start serves the protocol, watches connections and runs the loop.
func (in *dmInbox) start() {
	in.guard.serve(func(ctx context.Context, s network.Stream) error {
		var h [e2ee.HashSize]byte
		req, err := io.ReadAll(io.LimitReader(s, e2ee.HashSize+1))
		if err != nil || len(req) != e2ee.HashSize {
			return errMalformedRequest
		}
		copy(h[:], req)
		inits, err := in.chat.DMInbox(ctx, s.Conn().RemotePeer(), h)
		if err != nil {
			in.log.Warn("read the outbox", "err", err)
			inits = nil // answered as empty
		}
		msg := binary.AppendUvarint(nil, uint64(len(inits)))
		for _, b := range inits {
			msg = binary.AppendUvarint(msg, uint64(len(b)))
			msg = append(msg, b...)
		}
		if _, err := s.Write(msg); err != nil {
			return errMalformedRequest // reset
		}
		return nil
	})
	in.notify = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) { in.wake() }}
	in.host.Network().Notify(in.notify)
	in.wg.Go(in.loop)
}

// close stops the loop and the protocol. Idempotent.
func (in *dmInbox) close() {
	in.once.Do(func() {
		if in.notify != nil {
			in.host.Network().StopNotify(in.notify)
		}
		in.cancel()
		in.wg.Wait()
		in.guard.close()
	})
}

// loop pushes the outbox when woken and every Interval, and searches
// our inboxes at start, every Interval, and with backoff while the DHT
// cannot answer yet.
func (in *dmInbox) loop() {
	bo := backoff.Backoff{Min: in.cfg.RetryMin, Max: in.cfg.Interval}
	timer := time.NewTimer(0)
	defer timer.Stop()
	nextSearch := time.Time{}
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-timer.C:
		case <-in.kick:
		}
		in.push()
		if now := time.Now(); !now.Before(nextSearch) {
			if in.search() {
				bo.Reset()
				nextSearch = now.Add(in.cfg.Interval)
			} else {
				nextSearch = now.Add(bo.Next())
			}
		}
		timer.Reset(time.Until(nextSearch))
	}
}

// push hands each queued conversation to its recipient if connected,
// and advertises the inbox keys of the others.
func (in *dmInbox) push() {
	pend, err := in.chat.PendingDMs(in.ctx)
	if err != nil {
		in.log.Warn("read the outbox", "err", err)
		return
	}
	keys := map[[32]byte]bool{}
	for _, d := range pend {
		if in.host.Network().Connectedness(d.To) == network.Connected {
			if err := in.deliver.deliver(in.ctx, d.To, d.Init); err == nil {
				_ = in.chat.DMDelivered(in.ctx, d.To, d.Room)
				continue
			}
		}
		keys[e2ee.DMInboxKey(d.To, d.Bundle)] = true
	}
	for k := range in.advertised {
		if !keys[k] {
			delete(in.advertised, k) // its records lapse (no withdrawal in the DHT)
		}
	}
	if !in.routed() {
		return
	}
	for k := range keys {
		if time.Since(in.advertised[k]) < in.cfg.Readvertise {
			continue
		}
		ctx, cancel := context.WithTimeout(in.ctx, time.Minute)
		_, err := in.disc.Advertise(ctx, inboxRendezvous(k))
		cancel()
		if err != nil {
			in.log.Debug("advertise an inbox", "err", err)
			continue
		}
		in.advertised[k] = time.Now()
	}
}

// inboxRendezvous is the DHT rendezvous string of an inbox key.
func inboxRendezvous(k [32]byte) string { return "/parley/dm-inbox/" + hex.EncodeToString(k[:]) }

// search looks up the inbox of each of our live bundles, asks each
// holder found and takes what it answers. It reports whether the DHT
// could be asked at all.
func (in *dmInbox) search() bool {
	if !in.routed() {
		return false
	}
	self := in.host.ID()
	for _, b := range in.own() {
		ctx, cancel := context.WithTimeout(in.ctx, time.Minute)
		ch, err := in.disc.FindPeers(ctx, inboxRendezvous(e2ee.DMInboxKey(self, b.Hash())), discovery.Limit(maxInboxHolders))
		if err != nil {
			cancel()
			return false
		}
		for ai := range ch {
			if ai.ID != self {
				in.fetch(ctx, ai, b.Hash())
			}
		}
		cancel()
	}
	return true
}

// maxInboxHolders bounds the holders one search asks.
const maxInboxHolders = 16

// fetch asks holder for our first messages sealed to bundle and hands
// each to chat.
func (in *dmInbox) fetch(ctx context.Context, holder peer.AddrInfo, bundle [e2ee.HashSize]byte) {
	inits, err := in.ask(ctx, holder, bundle)
	if err != nil {
		in.log.Debug("ask an inbox", "holder", holder.ID, "err", err)
		return
	}
	for _, init := range inits {
		if _, err := in.chat.AcceptDM(ctx, init); err != nil && !errors.Is(err, chat.ErrDMInitSeen) {
			in.log.Info("first message from an inbox refused", "holder", holder.ID, "err", err)
		}
	}
}

// ask runs one DMInboxProtocol request.
func (in *dmInbox) ask(ctx context.Context, holder peer.AddrInfo, bundle [e2ee.HashSize]byte) ([][]byte, error) {
	if in.host.Network().Connectedness(holder.ID) != network.Connected {
		dctx, cancel := context.WithTimeout(ctx, dmDialTimeout)
		err := in.host.Connect(dctx, holder)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, admitTimeout)
	defer cancel()
	s, err := in.host.NewStream(ctx, holder.ID, DMInboxProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(bundle[:]); err != nil {
		return nil, err
	}
	s.CloseWrite()
	return parseInboxAnswer(s)
}

// parseInboxAnswer reads a holder's answer: a count of at most
// chat.MaxInboxAnswer, that many length-prefixed first messages of at
// most e2ee.MaxDMInitSize bytes, then the status byte 0. It reads at most
// maxInboxAnswerBytes, whatever the holder sends.
func parseInboxAnswer(rd io.Reader) ([][]byte, error) {
	r := bufio.NewReader(io.LimitReader(rd, maxInboxAnswerBytes))
	n, err := binary.ReadUvarint(r)
	if err != nil || n > chat.MaxInboxAnswer {
		return nil, fmt.Errorf("answer of %d first messages: %v", n, err)
	}
	out := make([][]byte, 0, n)
	for range n {
		b, err := readField(r, e2ee.MaxDMInitSize)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if st, err := r.ReadByte(); err != nil || st != 0 {
		return nil, fmt.Errorf("inbox answer not completed: %v", err)
	}
	return out, nil
}

// maxInboxAnswerBytes bounds what an inbox answer may make us read.
const maxInboxAnswerBytes = binary.MaxVarintLen64 + chat.MaxInboxAnswer*(binary.MaxVarintLen64+e2ee.MaxDMInitSize) + 1

// live returns the bundles whose key pairs are held and that are not
// expired at now: those whose inboxes may hold something.
func (r *keyring) live(now time.Time) []*e2ee.SignedBundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*e2ee.SignedBundle
	for _, k := range r.keys {
		if now.Before(k.b.Expires) {
			out = append(out, k.b)
		}
	}
	return out
}
