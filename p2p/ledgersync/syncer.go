package ledgersync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/internal/backoff"
	"github.com/parley-chat/parley/internal/timers"
	"github.com/parley-chat/parley/ledger"
)

// Syncer runs ledger sync for the joined rooms of a Store: it serves
// ProtocolID, and syncs in the background when a peer that speaks it
// connects, periodically, and on Trigger. All methods are safe for
// concurrent use.
type Syncer struct {
	h     host.Host
	store Store
	cfg   Config
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	timers timers.Group // retries and settle syncs; stopped by Close
	once   sync.Once
	sub    event.Subscription

	inbound chan struct{} // semaphore of served sessions
	queue   chan task

	mu       sync.Mutex
	pending  map[task]taskState // queued or running background syncs
	outgoing map[task]bool      // running Sync calls
	serving  map[task]bool      // running served sessions
	status   map[string]*RoomStatus
	known    map[string]map[peer.ID]time.Time // room → peers that answered for it
	snaps    map[string]*snap                 // room → key snapshot of its running served sessions
	blocked  map[peer.ID]time.Time            // misbehaving peers → end of their block
	limited  map[task]*backoff.Backoff        // retry delays after ErrLimit, reset by a clean session

	received atomic.Int64 // bytes read by served sessions, ever
	deferred atomic.Int64 // bytes of events now deferred by running requests
}

// Usage is what the syncer holds and has read, for metrics and tests.
type Usage struct {
	// Received counts the bytes read by served (inbound) sessions since
	// start.
	Received int64
	// DeferredBytes is the size of the events that running sessions hold
	// because their parents have not arrived (bounded per session by
	// Config.MaxDeferredBytes).
	DeferredBytes int64
}

// Usage returns the syncer's current usage.
func (s *Syncer) Usage() Usage {
	return Usage{Received: s.received.Load(), DeferredBytes: s.deferred.Load()}
}

type task struct {
	room string
	peer peer.ID
}

// taskState is the state of a background sync.
type taskState int

const (
	queued  taskState = iota + 1
	running           // a Trigger now asks for a rerun
	rerun             // run again when done: events may have come after it started
)

// Stats describes one session.
type Stats struct {
	EventsReceived int // events received and verified
	EventsStored   int // of those, new to our ledger
	BytesSent      int
	BytesReceived  int
	Rounds         int
	Duration       time.Duration
}

// RoomStatus is the sync state of one room, for node_info and room methods.
type RoomStatus struct {
	InProgress    int       `json:"inProgress"`    // sessions running now
	LastSync      time.Time `json:"lastSync"`      // end of the last successful session (zero if none)
	LastPeer      peer.ID   `json:"lastPeer"`      // its peer
	LastError     string    `json:"lastError"`     // error of the last failed session, if any
	EventsFetched uint64    `json:"eventsFetched"` // new events stored by sync since start
	Sessions      uint64    `json:"sessions"`      // sessions started (both directions)
}

// New starts a syncer on h: it registers the stream handler and starts the
// background goroutines. cfg's zero fields take their defaults. If New
// fails, nothing is left running.
func New(h host.Host, store Store, cfg Config) (*Syncer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ledgersync: config: %w", err)
	}
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, err
	}
	s := &Syncer{
		h: h, store: store, cfg: cfg, log: cfg.Logger.With("subsystem", "sync"), sub: sub,
		inbound:  make(chan struct{}, cfg.MaxInbound),
		queue:    make(chan task, 1024),
		pending:  make(map[task]taskState),
		outgoing: make(map[task]bool),
		serving:  make(map[task]bool),
		status:   make(map[string]*RoomStatus),
		known:    make(map[string]map[peer.ID]time.Time),
		snaps:    make(map[string]*snap),
		limited:  make(map[task]*backoff.Backoff),
		blocked:  make(map[peer.ID]time.Time),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, v := range cfg.versions {
		h.SetStreamHandler(v, cfg.RateLimit.Limit(s.handle))
	}
	s.wg.Add(2 + cfg.MaxOutbound)
	go s.watchPeers()
	go s.periodic()
	for range cfg.MaxOutbound {
		go s.worker()
	}
	return s, nil
}

// Close removes the stream handler, cancels running sessions and waits for
// every goroutine of the syncer (background workers and served sessions).
// It is idempotent.
func (s *Syncer) Close() error {
	var err error
	s.once.Do(func() {
		for _, v := range s.cfg.versions {
			s.h.RemoveStreamHandler(v)
		}
		s.cancel()
		s.timers.Stop()
		err = s.sub.Close()
		s.wg.Wait()
	})
	return err
}

// Trigger asks for a background sync of room with p (or, if p is "", with
// up to three connected peers, those known to hold the room first). It
// never blocks; a sync already queued or running for the same room and
// peer absorbs it.
func (s *Syncer) Trigger(room string, p peer.ID) {
	if s.ctx.Err() != nil {
		return
	}
	if p == "" {
		for _, q := range s.pickPeers(room, 3) {
			s.Trigger(room, q)
		}
		return
	}
	if p == s.h.ID() || !s.allowed(room, p) {
		return
	}
	t := task{room, p}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.pending[t] {
	case queued, rerun:
		return
	case running:
		s.pending[t] = rerun
		return
	}
	s.enqueue(t)
}

// PeerJoined syncs room with p, which just joined the room's gossip topic:
// now, so that whatever either side missed while apart arrives at once,
// and again after Config.Settle, for what gossip passed on while the mesh
// was forming (see Config.Settle). The second sync is skipped if p has
// gone by then, and with Manual.
func (s *Syncer) PeerJoined(room string, p peer.ID) {
	s.Trigger(room, p)
	if s.cfg.Settle <= 0 || s.cfg.Manual {
		return
	}
	s.timers.AfterFunc(s.cfg.Settle, func() {
		if s.h.Network().Connectedness(p) == network.Connected { // Trigger is a no-op once closed
			s.Trigger(room, p)
		}
	})
}

// enqueue queues t unless the queue is full. s.mu must be held.
func (s *Syncer) enqueue(t task) {
	select {
	case s.queue <- t:
		s.pending[t] = queued
	default:
		delete(s.pending, t)
		s.log.Debug("sync queue full", "room", t.room, "peer", t.peer)
	}
}

// Status returns room's sync state.
func (s *Syncer) Status(room string) RoomStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.status[room]; st != nil {
		return *st
	}
	return RoomStatus{}
}

// statusOf returns room's mutable status. s.mu must be held.
func (s *Syncer) statusOf(room string) *RoomStatus {
	st := s.status[room]
	if st == nil {
		st = new(RoomStatus)
		s.status[room] = st
	}
	return st
}

// limitRetry is the delay before continuing a session that stopped at a
// limit: 1 s, doubling per (room, peer) while sessions stop without
// storing anything new, up to 5 min; a session that ends cleanly or makes
// progress resets it (a long catch-up continues every second).
var limitRetry = backoff.Backoff{Min: time.Second, Max: 5 * time.Minute}

// retryLimit returns the next delay after t stopped at a limit.
func (s *Syncer) retryLimit(t task) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.limited[t]
	if b == nil {
		if len(s.limited) >= 4096 { // bounded: forget one (a fresh start is only 1 s)
			for k := range s.limited {
				delete(s.limited, k)
				break
			}
		}
		cp := limitRetry
		b = &cp
		s.limited[t] = b
	}
	return b.Next()
}

// busyRetry is the delay before retrying a session the peer refused as
// busy: 300–600 ms, spread so that the sessions refused together do not
// come back together. Min = Max: it does not grow, the peer is busy with
// a session about to end, not overloaded.
var busyRetry = backoff.Backoff{Min: 450 * time.Millisecond, Max: 450 * time.Millisecond, Jitter: 1.0 / 3}

func (s *Syncer) worker() {
	defer s.wg.Done()
	busy := busyRetry // a Backoff belongs to one goroutine
	for {
		select {
		case <-s.ctx.Done():
			return
		case t := <-s.queue:
			s.mu.Lock()
			s.pending[t] = running
			s.mu.Unlock()
			stats, err := s.Sync(s.ctx, t.peer, t.room)
			if stats.EventsStored > 0 && !s.cfg.Manual {
				// What we just learned by sync is not gossiped again, so
				// tell our other neighbours in the room: syncing with them
				// makes them pull it back from us (their reverse sync).
				for _, q := range s.pickPeers(t.room, 3) {
					if q != t.peer {
						s.Trigger(t.room, q)
					}
				}
			}
			s.mu.Lock()
			if s.pending[t] == rerun && s.ctx.Err() == nil {
				s.enqueue(t)
			} else {
				delete(s.pending, t)
			}
			s.mu.Unlock()
			switch {
			case err == nil:
			case errors.Is(err, ErrLimit):
				// Continue where it stopped, once the peer has seen the
				// session end; later each time the same peer stops at a
				// limit again, so a peer that feeds us limit-sized
				// sessions cannot keep us busy.
				// (Sync has reset the delay if the session made progress.)
				s.timers.AfterFunc(s.retryLimit(t), func() { s.Trigger(t.room, t.peer) })
			case errors.Is(err, ErrBusy):
				// The peer is still serving us this room (often the tail
				// of the previous session). What we asked for must not be
				// dropped: try again shortly.
				s.log.Debug("sync busy, retrying", "room", t.room, "peer", t.peer, "err", err)
				s.timers.AfterFunc(busy.Next(), func() { s.Trigger(t.room, t.peer) })
			case errors.Is(err, ErrRoomUnknown), errors.Is(err, ErrClosed), errors.Is(err, ErrBlocked), errors.Is(err, ErrNotAllowed):
				s.log.Debug("sync skipped", "room", t.room, "peer", t.peer, "err", err)
			default:
				// A failure is usually the peer's doing (it does not speak
				// sync, went away, misbehaved), so a stranger could fill the
				// log at Info; Status(room).LastError keeps the latest.
				s.log.Debug("sync failed", "room", t.room, "peer", t.peer, "err", err)
			}
		}
	}
}

// watchPeers syncs every joined room with each peer that speaks the
// protocol, once it is identified.
func (s *Syncer) watchPeers() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case e, ok := <-s.sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerIdentificationCompleted)
			if s.cfg.Manual || !slices.ContainsFunc(s.cfg.versions, func(v protocol.ID) bool { return slices.Contains(ev.Protocols, v) }) {
				continue
			}
			rooms, err := s.rooms(s.ctx)
			if err != nil {
				continue
			}
			for _, r := range rooms {
				s.Trigger(r, ev.Peer)
			}
		}
	}
}

// periodic syncs each joined room with one connected peer every Interval.
func (s *Syncer) periodic() {
	defer s.wg.Done()
	if s.cfg.Interval < 0 || s.cfg.Manual {
		return
	}
	for {
		d := s.cfg.Interval/4*3 + rand.N(s.cfg.Interval/2+1)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(d):
		}
		rooms, err := s.rooms(s.ctx)
		if err != nil {
			continue
		}
		for _, r := range rooms {
			for _, p := range s.pickPeers(r, 1) {
				s.Trigger(r, p)
			}
		}
	}
}

// pickPeers chooses up to n connected peers for room that Config.Allow
// admits: peers that answered for it before first, then others, in random
// order.
func (s *Syncer) pickPeers(room string, n int) []peer.ID {
	// Allow is the caller's code: run it outside s.mu.
	conns := slices.DeleteFunc(s.h.Network().Peers(), func(p peer.ID) bool { return !s.allowed(room, p) })
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	// The room's map of known peers is written by finished sessions
	// (remember), so it is read only under the lock.
	picked := make([]peer.ID, 0, len(conns))
	var others []peer.ID
	s.mu.Lock()
	known := s.known[room]
	for _, p := range conns {
		if _, ok := known[p]; ok {
			picked = append(picked, p)
		} else {
			others = append(others, p)
		}
	}
	s.mu.Unlock()
	picked = append(picked, others...)
	return picked[:min(n, len(picked))]
}

// remember notes that p holds room. s.mu must be held.
func (s *Syncer) remember(room string, p peer.ID) {
	m := s.known[room]
	if m == nil {
		m = make(map[peer.ID]time.Time)
		s.known[room] = m
	}
	m[p] = time.Now()
	if len(m) > 64 {
		var oldest peer.ID
		var t time.Time
		for q, at := range m {
			if oldest == "" || at.Before(t) {
				oldest, t = q, at
			}
		}
		delete(m, oldest)
	}
}

// allowed reports whether Config.Allow lets p sync room.
func (s *Syncer) allowed(room string, p peer.ID) bool {
	return s.cfg.Allow == nil || s.cfg.Allow(room, p)
}

// isBlocked reports whether p is refused sync for misbehaving.
func (s *Syncer) isBlocked(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.blocked[p]
	if ok && time.Now().After(until) {
		delete(s.blocked, p)
		return false
	}
	return ok
}

// misbehaved refuses p sync for Config.BlockFor, has Config.Blocker block
// it, and reports it through OnMisbehave; with neither it applies the
// default penalty.
func (s *Syncer) misbehaved(p peer.ID, err error) {
	s.mu.Lock()
	if len(s.blocked) >= 4096 { // bounded: drop expired blocks, then any
		now := time.Now()
		for q, until := range s.blocked {
			if now.After(until) || len(s.blocked) >= 4096 {
				delete(s.blocked, q)
			}
		}
	}
	s.blocked[p] = time.Now().Add(s.cfg.BlockFor)
	s.mu.Unlock()
	s.log.Warn("peer misbehaved in sync", "peer", p, "err", err)
	if s.cfg.Blocker != nil {
		s.cfg.Blocker.Block(p, s.cfg.BlockFor)
	}
	if s.cfg.OnMisbehave != nil {
		s.cfg.OnMisbehave(p, err)
	}
	if s.cfg.Blocker == nil && s.cfg.OnMisbehave == nil {
		s.h.ConnManager().TagPeer(p, "parley-bad", -100)
		_ = s.h.Network().ClosePeer(p)
	}
}

// snap is a key snapshot shared by the served sessions of one room.
type snap struct {
	ks   *ledger.KeySet
	fp   ledger.Fingerprint // of the whole set
	refs int                // sessions using it; s.mu guards it
}

// snapshot returns the keys of room as a KeySet whose whole fingerprint is
// fp, and the release the session must call when done with it. Served
// sessions of one room share it while the room is unchanged, so concurrent
// sessions cost one snapshot, not one each; it is dropped when the last of
// them releases it (about 130 bytes per event: kept longer, every room
// ever served would stay in memory for the life of the process).
func (s *Syncer) snapshot(ctx context.Context, room string, fp ledger.Fingerprint) (*ledger.KeySet, func(), error) {
	s.mu.Lock()
	if sn := s.snaps[room]; sn != nil && sn.fp == fp {
		sn.refs++
		s.mu.Unlock()
		return sn.ks, s.releaser(room, sn), nil
	}
	s.mu.Unlock()
	keys, err := s.store.Ledger().Keys(ctx, room, 0, ^uint64(0))
	if err != nil {
		return nil, nil, err
	}
	ks := ledger.NewKeySet(keys)
	sn := &snap{ks: ks, fp: ks.Fingerprint(0, ks.Len()), refs: 1}
	if sn.fp != fp { // writes landed meanwhile: do not share
		return ks, func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.snaps[room]; cur != nil && cur.fp == fp { // another session built it meanwhile
		cur.refs++
		return cur.ks, s.releaser(room, cur), nil
	}
	// A stale snapshot still in use stays with its sessions, unshared.
	s.snaps[room] = sn
	return ks, s.releaser(room, sn), nil
}

// releaser returns the release of one session's reference to sn.
func (s *Syncer) releaser(room string, sn *snap) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if sn.refs--; sn.refs == 0 && s.snaps[room] == sn {
				delete(s.snaps, room)
			}
		})
	}
}

// rooms lists the joined rooms and drops what the syncer keeps per room
// for the rooms no longer among them (status, peers that answered, key
// snapshots, retry delays): the store has no leave event, and every path
// that adds such an entry lists the rooms first, so the entries never
// outnumber the joined rooms plus those left since the last listing.
func (s *Syncer) rooms(ctx context.Context) ([]string, error) {
	rooms, err := s.store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := false
	left := func(r string) bool {
		if slices.Contains(rooms, r) {
			return false
		}
		gone = true
		return true
	}
	for r, st := range s.status {
		if st.InProgress == 0 && left(r) {
			delete(s.status, r)
		}
	}
	for r := range s.known {
		if left(r) {
			delete(s.known, r)
		}
	}
	for r := range s.snaps {
		if left(r) { // its sessions keep their pointer; release finds it gone
			delete(s.snaps, r)
		}
	}
	if gone {
		for t := range s.limited {
			if !slices.Contains(rooms, t.room) {
				delete(s.limited, t)
			}
		}
	}
	return rooms, nil
}

// joined reports whether room is one of the store's rooms.
func (s *Syncer) joined(ctx context.Context, room string) (bool, error) {
	rooms, err := s.rooms(ctx)
	if err != nil {
		return false, err
	}
	return slices.Contains(rooms, room), nil
}

var _ network.StreamHandler = (*Syncer)(nil).handle
