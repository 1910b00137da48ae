package chat

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Filter selects what a subscription receives.
type Filter struct {
	// Room limits the feed to one room (ID or public name); "" means all.
	Room string
	// Since, if set, replays what arrived after this cursor (a Message's
	// Cursor, or a message ID) before going live.
	Since string
}

// maxQueued bounds the messages waiting in memory for one subscriber. Past
// it (a slow reader, or a catch-up storing thousands of events at once)
// the queue is dropped and the subscription reads on from the ledger by
// cursor, at the reader's pace: memory stays bounded, the node is not
// slowed, and the reader still gets every message once, in order.
const maxQueued = 1024

// replayPage is how many events one replay read takes.
const replayPage = 256

// feed fans committed messages out to subscriptions.
type feed struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

func newFeed() *feed { return &feed{subs: make(map[*Subscription]struct{})} }

func (f *feed) add(s *Subscription) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.subs[s] = struct{}{}
	return true
}

// listening reports whether any subscription takes messages from memory:
// one that is behind reads them from the ledger anyway.
func (f *feed) listening() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.mu.Lock()
		behind := s.behind
		s.mu.Unlock()
		if !behind {
			return true
		}
	}
	return false
}

func (f *feed) remove(s *Subscription) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

func (f *feed) publish(msgs []queued) {
	f.mu.Lock()
	subs := make([]*Subscription, 0, len(f.subs))
	for s := range f.subs {
		subs = append(subs, s)
	}
	f.mu.Unlock()
	for _, s := range subs {
		s.push(msgs)
	}
}

func (f *feed) close() {
	f.mu.Lock()
	subs := f.subs
	f.subs = map[*Subscription]struct{}{}
	f.closed = true
	f.mu.Unlock()
	for s := range subs {
		s.Close()
	}
}

// queued is a message with its arrival sequence number, the room whose
// ledger holds it (Message.Room names its conversation's canonical one)
// and the peer of its direct conversation ("" outside one).
type queued struct {
	Message
	seq    uint64
	room   string
	dmPeer peer.ID
}

// onCommit runs on the ledger's flush goroutine (one at a time) with
// newly stored events, in arrival order. It must not block.
func (s *Service) onCommit(evs []*ledger.Event) {
	s.noteCommitted(evs) // for the validator's parent lookups (committed.go)
	s.publishAfterSync(evs)
	s.mu.Lock()
	for _, ev := range evs {
		s.noteMember(ev)
	}
	s.mu.Unlock()
	// Moderation first: a ban in this batch hides what follows it.
	redactions := s.onModCommit(evs)
	// With no subscriber (no app connected) there is nobody to build
	// Messages for: catch-up then skips decoding every body twice.
	listening := s.feed.listening()
	msgs := make([]queued, 0, len(evs))
	var memo map[string]convRef
	for _, ev := range evs {
		s.learnName(ev)
		if !listening || s.hidden(ev) {
			continue
		}
		if m, ok := s.show(ev); ok {
			if memo == nil {
				memo = map[string]convRef{}
			}
			c := s.canonical(memo, ev.Room)
			m.Room = c.room
			msgs = append(msgs, queued{m, ev.Seq, ev.Room, c.peer})
		}
	}
	if listening {
		msgs = append(msgs, redactions...)
	}
	if len(msgs) > 0 {
		s.feed.publish(msgs)
	}
}

// Subscription is a live feed of new messages. Messages arrive on C in
// this node's arrival order, each exactly once. C is closed when the
// subscription ends; Err then says why (nil after Close).
type Subscription struct {
	room string
	// dmPeer is set for a subscription to a direct conversation: it gets
	// the messages of each of its rooms (dmmerge.go).
	dmPeer peer.ID
	out    chan Message

	mu     sync.Mutex
	queue  []queued
	behind bool // queue overflowed: catch up from the ledger
	err    error
	ended  bool
	wake   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	feed   *feed
}

// Subscribe starts a subscription. With f.Since set it first replays the
// messages that arrived after that cursor, then continues live with no gap
// and no duplicate.
func (s *Service) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	room := ""
	var dmPeer peer.ID
	if f.Room != "" {
		r, err := s.resolve(f.Room)
		if err != nil {
			return nil, err
		}
		room = r.ID
		dmPeer = s.canonical(nil, room).peer
	}
	var since uint64
	replay := f.Since != ""
	if replay {
		var err error
		in := room
		if dmPeer != "" {
			in = "" // the cursor may be in any of the conversation's rooms
		}
		if since, err = s.cursor(ctx, in, f.Since); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancel(s.ctx)
	sub := &Subscription{room: room, dmPeer: dmPeer, out: make(chan Message, 64), wake: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{}), feed: s.feed}
	// Register before choosing where to start: whatever commits from now
	// on is queued, whatever committed before is found by the replay (or,
	// without one, is not "new").
	if !s.feed.add(sub) {
		cancel()
		return nil, ErrClosed
	}
	if !replay {
		since = s.led.CommittedSeq()
	}
	go s.runSubscription(sctx, sub, since, replay)
	return sub, nil
}

// cursor parses a subscription cursor: a decimal arrival number or a
// message ID (whose arrival number is looked up).
func (s *Service) cursor(ctx context.Context, room, c string) (uint64, error) {
	if n, err := strconv.ParseUint(c, 10, 64); err == nil {
		return n, nil
	}
	id, err := ledger.ParseID(c)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is neither a cursor nor a message ID", ErrBadCursor, c)
	}
	rooms := []string{room}
	if room == "" {
		rs, _ := s.Rooms(ctx)
		rooms = rooms[:0]
		for _, r := range rs {
			rooms = append(rooms, r.ID)
		}
	}
	for _, r := range rooms {
		ev, err := s.led.Get(ctx, r, id)
		if err == nil {
			return ev.Seq, nil
		}
	}
	return 0, fmt.Errorf("%w: no message %s", ErrBadCursor, c)
}

func (s *Service) runSubscription(ctx context.Context, sub *Subscription, last uint64, replay bool) {
	defer close(sub.done)
	defer close(sub.out)
	defer sub.feed.remove(sub)
	send := func(m Message) bool {
		select {
		case sub.out <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// A direct conversation's rooms are read together, in arrival order.
	in := sub.room
	if sub.dmPeer != "" {
		in = ""
	}
	// replay sends what arrived after last from the ledger, page by page,
	// until it has caught up.
	replayAll := func() bool {
		for {
			evs, err := s.led.Since(ctx, last, in, replayPage)
			if err != nil {
				sub.end(fmt.Errorf("replay: %w", err))
				return false
			}
			memo := map[string]convRef{}
			for _, ev := range evs {
				last = ev.Seq
				c := s.canonical(memo, ev.Room)
				if in != sub.room && c.peer != sub.dmPeer || s.hidden(ev) {
					continue
				}
				if m, ok := s.show(ev); ok {
					m.Room = c.room
					if !send(m) {
						return false
					}
				}
			}
			if len(evs) < replayPage {
				return true
			}
		}
	}
	if replay && !replayAll() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.wake:
		}
		sub.mu.Lock()
		q, behind, ended := sub.queue, sub.behind, sub.ended
		sub.queue, sub.behind = nil, false
		sub.mu.Unlock()
		// Whatever commits from here on is queued again, and the replay
		// reads everything committed so far: no gap; seq skips overlaps.
		if behind && !ended && !replayAll() {
			return
		}
		for _, m := range q {
			// A redaction is about an earlier message: no cursor of its own.
			if m.Redacted == "" {
				if m.seq <= last {
					continue
				}
				last = m.seq
			}
			if !send(m.Message) {
				return
			}
		}
		if ended {
			return
		}
	}
}

func (sub *Subscription) push(msgs []queued) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ended || sub.behind {
		return // a subscription that is behind replays these from the ledger
	}
	for _, m := range msgs {
		if sub.room != "" && m.room != sub.room && (sub.dmPeer == "" || m.dmPeer != sub.dmPeer) {
			continue
		}
		if len(sub.queue) >= maxQueued {
			sub.queue, sub.behind = nil, true
			break
		}
		sub.queue = append(sub.queue, m)
	}
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *Subscription) end(err error) {
	sub.mu.Lock()
	if !sub.ended {
		sub.err, sub.ended = err, true
	}
	sub.mu.Unlock()
}

// C returns the channel messages arrive on.
func (sub *Subscription) C() <-chan Message { return sub.out }

// Err returns why the subscription ended (a failed ledger read, say), or
// nil while running or after Close.
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close ends the subscription and waits for its goroutine. Idempotent.
func (sub *Subscription) Close() error {
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	sub.cancel()
	<-sub.done
	return nil
}

// queuePublish hands one of our committed events to its room's publisher
// without blocking the ledger's commit goroutine.
func (s *Service) queuePublish(ev *ledger.Event) {
	s.mu.Lock()
	j := s.rooms[ev.Room]
	s.mu.Unlock()
	if j != nil {
		j.pubq.push(ev)
	}
}

// onApplied runs on the ledger's commit goroutine with our own new events,
// once applied and before their fsync: publishing does not wait for the
// disk (msg_send still does).
//
// Our enc events wait for onCommit instead (publishAfterSync): their
// sending chain's state was written just before them, unsynced, and the
// fsync of their commit makes it durable before anyone sees the
// ciphertext.
func (s *Service) onApplied(evs []*ledger.Event) {
	for _, ev := range evs {
		if ev.Kind == KindEnc {
			s.deferPublish.Store(ev.ID(), struct{}{})
			continue
		}
		s.queuePublish(ev)
	}
}

// publishAfterSync publishes our enc events of a committed (flushed)
// batch, held back by onApplied.
func (s *Service) publishAfterSync(evs []*ledger.Event) {
	for _, ev := range evs {
		if ev.Kind != KindEnc {
			continue
		}
		if _, ok := s.deferPublish.LoadAndDelete(ev.ID()); ok {
			s.queuePublish(ev)
		}
	}
}
