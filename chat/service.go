package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/timers"
	"github.com/parley-chat/parley/ledger"
)

// Service is the chat domain: rooms, membership and messages on top of a
// ledger and a Network. All methods are safe for concurrent use.
type Service struct {
	net   Network
	key   crypto.PrivKey
	self  peer.ID
	cfg   Config
	log   *slog.Logger
	store ds.Datastore // chat's own namespace: membership
	led   *ledger.Ledger

	// joinMu serialises Join and Leave, so that a room's membership
	// record, topic and join/leave events agree when both race.
	joinMu sync.Mutex
	// dmAccept serialises AcceptDM's count and join (dm.go); it guards
	// dmFrom, the inviters of the unanswered conversations it joined.
	dmAccept sync.Mutex
	dmFrom   map[string]peer.ID

	mu      sync.Mutex
	rooms   map[string]*joined // by room ID
	names   map[peer.ID]string
	members map[string]*roomMembers // by room ID
	mods    map[string]*modRoom     // moderated rooms, by ID (moderation.go)
	privs   map[string]*privRoom    // private rooms' keys, by ID (privcrypt.go)
	// deferPublish holds our enc events applied but not yet flushed
	// (feed.go onApplied).
	deferPublish sync.Map // ledger.ID → struct{}
	// topicRooms maps the epoch topics of private rooms that this node is
	// on to their rooms (roomtopic.go; RoomOfTopic).
	topicRooms sync.Map // string → string
	closed     bool

	feed  *feed
	limit *limiter
	orph  *orphanPool
	// newcomers is the per-room budget of new authors (newcomers.go).
	newcomers *newcomers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	timers timers.Group // repair asks; stopped by Close
}

// joined is a room we are a member of, with its topic and ingest worker.
type joined struct {
	Room
	// topic is set by subscribe after the room is in s.rooms, where a
	// Close may already find it; ready is closed once topic is set, or
	// once joining it failed (topic stays nil). Read topic only after
	// ready.
	topic Topic
	ready chan struct{}
	in    *roomQueue[inbound] // verified gossip, to store
	// pending holds the IDs of events accepted and queued in in but not
	// stored yet, so that their children are not taken for orphans.
	pending sync.Map // ledger.ID → struct{}
	// committed holds the room's newest committed IDs (committed.go).
	committed *committedIDs
	// asking holds the forwarders with a repair running (repair.go).
	asking sync.Map        // peer.ID → struct{}
	ctx    context.Context // the room's, until leave; nil in some tests
	cancel context.CancelFunc
	done   chan struct{} // closed when the room's worker ends (or never started)
	orph   *orphans
	pubq   *roomQueue[*ledger.Event] // our committed events, in commit order, to publish
	// repair is set while syncs for gossip dropped from a full in are
	// scheduled; they run until lastDropped is stored.
	repair      atomic.Bool
	lastDropped atomic.Pointer[ledger.Event]
}

// New opens the ledger on store (under /ledger; chat's own records go under
// /chat), rejoins the rooms joined before, and returns the service. It does
// not close store; Close does close the ledger.
func New(net Network, store ds.Batching, key crypto.PrivKey, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("chat: config: %w", err)
	}
	log := cfg.Logger.With("subsystem", "chat")
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("chat: identity: %w", err)
	}
	s := &Service{
		net: net, key: key, self: self, cfg: cfg, log: log,
		store:     namespace.Wrap(store, ds.NewKey("/chat")),
		rooms:     make(map[string]*joined),
		names:     make(map[peer.ID]string),
		members:   make(map[string]*roomMembers),
		mods:      make(map[string]*modRoom),
		privs:     make(map[string]*privRoom),
		feed:      newFeed(),
		limit:     newLimiter(cfg.Limits, cfg.Clock),
		newcomers: newNewcomers(cfg.Limits),
		orph:      newOrphanPool(cfg.Orphans, cfg.Clock),
	}
	s.orph.onLevel = s.metrics().OrphansHeld
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.led, err = ledger.Open(s.ctx, namespace.Wrap(store, ds.NewKey("/ledger")), ledger.Config{
		Logger:    cfg.Logger, // Open tags it subsystem=ledger
		OnCommit:  s.onCommit,
		OnApplied: s.onApplied,
		Check:     s.checkEvent,
		Parents:   s.parentPolicy,
	})
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("chat: open ledger: %w", err)
	}
	s.wg.Go(s.expireOrphans)
	saved, err := s.savedRooms(s.ctx)
	if err == nil {
		for _, r := range saved {
			if err = s.subscribe(r); err != nil {
				break
			}
			if mr := s.modRoom(r.ID); mr != nil {
				// Joined by ID before a restart, genesis still missing:
				// our join is announced once it comes.
				mr.deferJoin()
			}
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("chat: rejoin rooms: %w", err)
	}
	s.wg.Go(s.sweepEpochsLoop) // rooms loaded: ended epochs (priverase.go)
	return s, nil
}

// expireOrphans drops orphans past OrphanLimits.MaxAge until Close, so
// that they expire also when no new ones arrive (the attacker left).
func (s *Service) expireOrphans() {
	t := time.NewTicker(max(s.cfg.Orphans.MaxAge/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.orph.sweep()
		}
	}
}

// OrphanStats returns the level of the orphan pool (all rooms).
func (s *Service) OrphanStats() OrphanStats { return s.orph.stats() }

// group is the address group of peer p (Network.Group), "" without a
// network or a peer.
func (s *Service) group(p peer.ID) string {
	if s.net == nil || p == "" {
		return ""
	}
	return s.net.Group(p)
}

// Ledger returns the ledger the service writes to (for sync and tools).
func (s *Service) Ledger() *ledger.Ledger { return s.led }

// Self returns the local peer ID.
func (s *Service) Self() peer.ID { return s.self }

// Close leaves all topics (membership is kept for the next start), ends all
// subscriptions, waits for the ingest workers and closes the ledger.
// It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*joined, 0, len(s.rooms))
	for _, j := range s.rooms {
		rooms = append(rooms, j)
	}
	s.mu.Unlock()
	var errs []error
	for _, j := range rooms {
		errs = append(errs, s.stop(j))
	}
	s.feed.close()
	s.cancel()
	s.timers.Stop()
	s.wg.Wait()
	errs = append(errs, s.led.Close())
	return errors.Join(errs...)
}
