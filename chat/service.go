package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/timers"
	"github.com/parley-chat/parley/ledger"
)

// Config configures a Service.
type Config struct {
	// Name is the display name announced in join events; may be empty.
	Name string
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
	// OnMissing, if set, is called (from a timer goroutine; it must not
	// block) when an event from peer from still refers to parents we do not
	// have, or when gossip from it was dropped because the room's ingest
	// queue was full, so the caller can start a sync of that room with that
	// peer; it is called again with from "" (any members) while they stay
	// missing.
	OnMissing func(room string, from peer.ID)
	// OnJoin, if set, is called after a room is joined (not on rejoins at
	// start), so the caller can fetch the room's history.
	OnJoin func(room string)
	// Limits bound gossip per author and per forwarding peer; the zero
	// value means DefaultLimits. Set a rate to a negative value to turn
	// that limit off.
	Limits Limits
	// Clock returns the current time; nil means time.Now. Tests set it.
	Clock func() time.Time
	// Metrics, if set, counts messages sent, received and rejected (see
	// Metrics). Nil means none.
	Metrics Metrics
}

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

	mu      sync.Mutex
	rooms   map[string]*joined // by room ID
	names   map[peer.ID]string
	members map[string]*roomMembers // by room ID
	closed  bool

	feed  *feed
	limit *limiter

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
	topic  Topic
	ready  chan struct{}
	in     *roomQueue[inbound] // verified gossip, to store
	cancel context.CancelFunc
	done   chan struct{} // closed when the room's worker ends (or never started)
	orph   *orphans
	pubq   *roomQueue[[]byte] // our committed events, in commit order, to publish
	// repair is set while syncs for gossip dropped from a full in are
	// scheduled; they run until lastDropped is stored.
	repair      atomic.Bool
	lastDropped atomic.Pointer[ledger.Event]
}

var roomsPrefix = ds.NewKey("/rooms")

// New opens the ledger on store (under /ledger; chat's own records go under
// /chat), rejoins the rooms joined before, and returns the service. It does
// not close store; Close does close the ledger.
func New(net Network, store ds.Batching, key crypto.PrivKey, cfg Config) (*Service, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default().With("subsystem", "chat")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("chat: identity: %w", err)
	}
	s := &Service{
		net: net, key: key, self: self, cfg: cfg, log: log,
		store:   namespace.Wrap(store, ds.NewKey("/chat")),
		rooms:   make(map[string]*joined),
		names:   make(map[peer.ID]string),
		members: make(map[string]*roomMembers),
		feed:    newFeed(),
		limit:   newLimiter(cfg.Limits),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.led, err = ledger.Open(s.ctx, namespace.Wrap(store, ds.NewKey("/ledger")), ledger.Options{
		Logger:    log.With("subsystem", "ledger"),
		OnCommit:  s.onCommit,
		OnApplied: s.onApplied,
	})
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("chat: open ledger: %w", err)
	}
	saved, err := s.savedRooms(s.ctx)
	if err == nil {
		for _, r := range saved {
			if err = s.subscribe(r); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("chat: rejoin rooms: %w", err)
	}
	return s, nil
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

func (s *Service) savedRooms(ctx context.Context) ([]Room, error) {
	res, err := s.store.Query(ctx, query.Query{Prefix: roomsPrefix.String(), Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	var rooms []Room
	for _, e := range entries {
		var r Room
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("membership record %s: %w", e.Key, err)
		}
		rooms = append(rooms, r)
	}
	return rooms, nil
}

// Join joins the public room name (creating it if nobody has yet) and
// announces the join in the room's ledger. Joining a joined room is a no-op.
func (s *Service) Join(ctx context.Context, name string) (Room, error) {
	n, err := NormalizeName(name)
	if err != nil {
		if looksLikeRoomID(name) {
			// A public room ID: only known rooms can be joined by ID,
			// since the name cannot be recovered from it.
			if r, ok := s.joinedRoom(name); ok {
				return r, nil
			}
			return Room{}, fmt.Errorf("%w: %s (join public rooms by name)", ErrUnknownRoom, name)
		}
		return Room{}, err
	}
	r := Room{ID: PublicRoomID(n), Name: n}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if got, ok := s.joinedRoom(r.ID); ok {
		return got, nil
	}
	if err := s.subscribe(r); err != nil {
		return Room{}, err
	}
	b, _ := json.Marshal(r)
	if err := s.store.Put(ctx, roomsPrefix.ChildString(r.ID), b); err != nil {
		s.leaveTopic(r.ID)
		return Room{}, fmt.Errorf("save membership of %s: %w", r.Name, err)
	}
	body, _ := json.Marshal(memberBody{Name: s.cfg.Name})
	if _, err := s.append(ctx, r.ID, ledger.KindJoin, body); err != nil {
		s.log.Warn("announce join", "room", r.ID, "err", err)
	}
	s.log.Info("joined room", "room", r.ID, "name", r.Name)
	if s.cfg.OnJoin != nil {
		s.cfg.OnJoin(r.ID)
	}
	return r, nil
}

func (s *Service) joinedRoom(id string) (Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.rooms[id]
	if !ok {
		return Room{}, false
	}
	return j.Room, true
}

// Leave announces leaving, unsubscribes from the room's topic and forgets
// the membership. The room's history stays on disk and readable.
func (s *Service) Leave(ctx context.Context, room string) error {
	r, err := s.resolve(room)
	if err != nil {
		return err
	}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if _, ok := s.joinedRoom(r.ID); !ok {
		return fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	body, _ := json.Marshal(memberBody{Name: s.cfg.Name})
	if ev, err := s.append(ctx, r.ID, ledger.KindLeave, body); err != nil {
		s.log.Warn("announce leave", "room", r.ID, "err", err)
	} else {
		// Publish it now: the room's publisher stops with the topic below.
		// (The publisher may send it too; pubsub drops the duplicate.)
		s.mu.Lock()
		j := s.rooms[r.ID]
		s.mu.Unlock()
		if j != nil {
			<-j.ready
			if j.topic != nil {
				j.topic.Publish(ctx, ev.Raw())
			}
		}
	}
	if err := s.store.Delete(ctx, roomsPrefix.ChildString(r.ID)); err != nil {
		return fmt.Errorf("forget membership of %s: %w", r.ID, err)
	}
	return s.leaveTopic(r.ID)
}

func (s *Service) leaveTopic(id string) error {
	s.mu.Lock()
	j := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if j == nil {
		return nil
	}
	return s.stop(j)
}

// Rooms lists the joined rooms, sorted by name.
func (s *Service) Rooms(ctx context.Context) ([]Room, error) {
	s.mu.Lock()
	out := make([]Room, 0, len(s.rooms))
	for _, j := range s.rooms {
		out = append(out, j.Room)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, k int) bool {
		return out[i].Name < out[k].Name || out[i].Name == out[k].Name && out[i].ID < out[k].ID
	})
	return out, nil
}

// resolve finds a room by ID or public name. A public name resolves even
// when not joined (its ID is derived), so history of a left room can be read.
func (s *Service) resolve(room string) (Room, error) {
	if r, ok := s.joinedRoom(room); ok {
		return r, nil
	}
	if looksLikeRoomID(room) {
		return Room{ID: room}, nil
	}
	n, err := NormalizeName(room)
	if err != nil {
		return Room{}, fmt.Errorf("%w: %q", ErrUnknownRoom, room)
	}
	id := PublicRoomID(n)
	if r, ok := s.joinedRoom(id); ok {
		return r, nil
	}
	return Room{ID: id, Name: n}, nil
}

// Send appends a message to a joined room and publishes it. It returns once
// the message is durably stored; publishing is best effort, since sync
// brings anything gossip missed to the other members.
func (s *Service) Send(ctx context.Context, room, text string) (Message, error) {
	r, err := s.resolve(room)
	if err != nil {
		return Message{}, err
	}
	if _, ok := s.joinedRoom(r.ID); !ok {
		return Message{}, fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	body, err := encodeText(text)
	if err != nil {
		return Message{}, err
	}
	ev, err := s.append(ctx, r.ID, ledger.KindMsg, body)
	if err != nil {
		return Message{}, err
	}
	// The body is encodeText(text): no need to decode it again.
	return message(ev, s.cfg.Name, text), nil
}

// append stores a new event of ours; once committed it is published on the
// room's topic.
func (s *Service) append(ctx context.Context, room, kind string, body []byte) (*ledger.Event, error) {
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j != nil {
		// A sender faster than the network waits here, before its event
		// exists, rather than the node queueing without bound.
		if err := j.pubq.waitRoom(ctx, j.done); errors.Is(err, errGone) {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("%w: %s", ErrNotMember, room)
		} else if err != nil {
			return nil, fmt.Errorf("waiting to publish: %w", err)
		}
	}
	ev, err := s.led.Append(ctx, s.key, room, kind, body, s.cfg.Clock())
	if err != nil {
		return nil, fmt.Errorf("store event: %w", storeErr(err))
	}
	s.metrics().MessageSent()
	// Published by the room's publisher, in commit order (see onCommit).
	return ev, nil
}

// HistoryQuery selects a page of history.
type HistoryQuery struct {
	Limit  int    // at most this many messages; 0 means 50, capped at 1000
	Before string // only messages before this message ID
}

// History returns messages of a room in (Lamport, ID) order, oldest first:
// the newest Limit of them, or those just before q.Before.
func (s *Service) History(ctx context.Context, room string, q HistoryQuery) ([]Message, error) {
	r, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var before ledger.ID
	if q.Before != "" {
		if before, err = ledger.ParseID(q.Before); err != nil {
			return nil, fmt.Errorf("%w: before: %v", ErrBadCursor, err)
		}
		if ok, err := s.led.Has(ctx, r.ID, before); err != nil {
			return nil, storeErr(err)
		} else if !ok {
			return nil, fmt.Errorf("%w: before: no message %s in room", ErrBadCursor, q.Before)
		}
	} else if _, joined := s.joinedRoom(r.ID); !joined {
		if n, err := s.led.Count(ctx, r.ID); err != nil {
			return nil, storeErr(err)
		} else if n == 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownRoom, room)
		}
	}
	// Pages hold other kinds too (joins, leaves): read until we have
	// enough messages or reach the start.
	var out []Message
	for len(out) < limit {
		evs, err := s.led.History(ctx, r.ID, before, limit)
		if err != nil {
			return nil, storeErr(err)
		}
		page := make([]Message, 0, len(evs))
		for _, ev := range evs {
			s.learnName(ev)
			if m, ok := toMessage(ev, s.name(ev.Author)); ok {
				page = append(page, m)
			}
		}
		out = append(page, out...)
		if len(evs) < limit {
			break
		}
		before = evs[0].ID()
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// VerifyReport is the result of Verify.
type VerifyReport = ledger.Report

// Problem is one finding of Verify.
type Problem = ledger.Problem

// Verify checks the ledger of one room, or of all rooms if room is "".
func (s *Service) Verify(ctx context.Context, room string) (VerifyReport, error) {
	id := ""
	if room != "" {
		r, err := s.resolve(room)
		if err != nil {
			return VerifyReport{}, err
		}
		id = r.ID
	}
	return s.led.Verify(ctx, id)
}

func (s *Service) learnName(ev *ledger.Event) {
	if ev.Kind != ledger.KindJoin && ev.Kind != ledger.KindProfile {
		return
	}
	var b memberBody
	if json.Unmarshal(ev.Body, &b) != nil || b.Name == "" {
		return
	}
	s.mu.Lock()
	s.names[ev.Author] = b.Name
	s.mu.Unlock()
}

func (s *Service) name(p peer.ID) string {
	if p == s.self {
		return s.cfg.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[p]
}

// Orphans returns how many events of room wait for their parents.
func (s *Service) Orphans(room string) int {
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j == nil {
		return 0
	}
	return j.orph.len()
}
