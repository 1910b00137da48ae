package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// roomTopic is the Topic of a moderated room joined through a
// PrivateNetwork. While the room is not known to be private it is the
// room's ordinary topic, TopicName(id) (a public moderated room, or one
// joined by ID whose genesis has not arrived). Once the room is private
// it is the topic of the current key epoch, derived from the epoch
// secret (privtopic.go), and it never names the room again:
//
//   - before this node holds any epoch's secret (joined by invite, keys
//     not synced yet) it is on no topic at all: sync, by room ID among
//     members, brings the history and the keys;
//   - when a new epoch becomes current and its secret is opened here, it
//     joins the new topic at once and leaves the previous one after
//     Config.EpochTopicGrace, so that what members not yet rotated
//     publish there still arrives; until the secret is opened (and after
//     a restart meanwhile) it is on the newest earlier epoch's topic it
//     holds, where it last met the others;
//   - when the current epoch leaves this node out (removed), it learns
//     no new topic and leaves the ones it is on after the same grace.
//
// What we publish goes where the members who need it are: an enc event
// on its own epoch's topic, anything else (membership, epochs, sealed
// keys: plaintext to every member) on every epoch topic we are still on,
// since members that have not opened the new epoch's keys yet (and need
// these events to open them) are on an older one, and an older one may
// leave out members added since. Methods are safe for concurrent use;
// update runs after commits that can change the epoch.
type roomTopic struct {
	s        *Service
	pn       PrivateNetwork
	room     string
	mr       *modRoom
	invited  bool // joined by invite: private from the start
	validate ValidateFunc
	deliver  DeliverFunc

	upd sync.Mutex // serialises update, so views apply in order

	mu     sync.Mutex
	closed bool
	plain  Topic       // TopicName(room), while not known private
	epoch  ledger.ID   // the epoch we last rotated to ("" none)
	held   []*epochSub // joined epoch topics, oldest first
	// retiring counts scheduled retire timers not stopped yet, so that
	// Close can wait for the ones that run.
	retiring sync.WaitGroup
}

// epochSub is one joined epoch topic.
type epochSub struct {
	epoch ledger.ID
	name  string
	t     Topic
	timer *time.Timer // set once it is no longer current
}

var _ Topic = (*roomTopic)(nil)

// update brings the room's topics in line with its state: the plain
// topic while not private, else the current epoch's (see roomTopic).
func (rt *roomTopic) update(ctx context.Context) error {
	rt.upd.Lock()
	defer rt.upd.Unlock()
	private := rt.invited || rt.mr.isPrivate()
	var (
		current ledger.ID // the winning epoch
		removed bool      // it leaves us out
		epoch   ledger.ID // the newest epoch of ours whose topic we hold
		members []peer.ID
		names   e2ee.EpochTopic
	)
	if private {
		eps := rt.mr.recentEpochs()
		if len(eps) > 0 {
			current, removed = eps[0].id, !containsPeer(eps[0].members, rt.s.self)
		}
		// While the current epoch's secret has not been opened here, the
		// previous epoch's topic is where we last met the others (after a
		// restart too): back along the chain while we are a member.
		for _, e := range eps {
			if removed || !containsPeer(e.members, rt.s.self) {
				break
			}
			if et, ok := rt.s.epochTopic(ctx, rt.room, e.id); ok {
				epoch, members, names = e.id, e.members, et
				break
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil
	}
	if !private {
		if rt.plain != nil {
			return nil
		}
		t, err := rt.pn.JoinTopic(TopicName(rt.room), rt.validate, rt.deliver)
		if err != nil {
			return err
		}
		rt.plain = t
		return nil
	}
	var err error
	if rt.plain != nil {
		// Known private now (joined by ID before the genesis came): the
		// room's ID is announced no longer.
		err = rt.plain.Close()
		rt.plain = nil
	}
	if removed {
		// The next topic is not ours to know.
		if rt.epoch != current {
			rt.retireAll()
			rt.epoch = current
			rt.s.log.Info("removed from private room, leaving its topics", "room", rt.room, "grace", rt.s.cfg.EpochTopicGrace)
		}
		return err
	}
	if epoch == "" || epoch == rt.epoch {
		return err // no epoch of ours held yet, or already there
	}
	if i := slices.IndexFunc(rt.held, func(h *epochSub) bool { return h.epoch == epoch }); i >= 0 {
		// Back to an epoch we are still on (a concurrent epoch won).
		h := rt.held[i]
		if h.timer != nil && h.timer.Stop() {
			rt.retiring.Done()
		}
		h.timer = nil
		rt.held = append(slices.Delete(rt.held, i, i+1), h)
	} else {
		t, jerr := rt.pn.JoinPrivate(names.Topic, names.Rendezvous, rt.mr.epochRule(members), rt.validate, rt.deliver)
		if jerr != nil {
			return errors.Join(err, fmt.Errorf("join the topic of epoch %s: %w", epoch, jerr))
		}
		rt.s.topicRooms.Store(names.Topic, rt.room)
		rt.held = append(rt.held, &epochSub{epoch: epoch, name: names.Topic, t: t})
	}
	rt.epoch = epoch
	for _, h := range rt.held[:len(rt.held)-1] {
		rt.retire(h)
	}
	return err
}

// retireAll schedules every held topic's leaving. rt.mu is held.
func (rt *roomTopic) retireAll() {
	for _, h := range rt.held {
		rt.retire(h)
	}
}

// retire schedules h's leaving after the grace period, once. rt.mu is
// held.
func (rt *roomTopic) retire(h *epochSub) {
	if h.timer != nil {
		return
	}
	rt.retiring.Add(1)
	h.timer = time.AfterFunc(rt.s.cfg.EpochTopicGrace, func() {
		defer rt.retiring.Done()
		rt.mu.Lock()
		if rt.closed || h.timer == nil { // Close leaves it, or it is current again
			rt.mu.Unlock()
			return
		}
		rt.held = slices.DeleteFunc(rt.held, func(x *epochSub) bool { return x == h })
		rt.mu.Unlock()
		if err := h.t.Close(); err != nil {
			rt.s.log.Debug("leave epoch topic", "room", rt.room, "err", err)
		}
		rt.s.topicRooms.CompareAndDelete(h.name, rt.room)
	})
}

// Publish implements Topic: data goes on the oldest topic we are on.
func (rt *roomTopic) Publish(ctx context.Context, data []byte) error {
	return rt.publishOn(ctx, "", data)
}

// publishEvent publishes one of our events where it belongs (roomTopic).
func (rt *roomTopic) publishEvent(ctx context.Context, ev *ledger.Event) error {
	var epoch ledger.ID
	if ev.Kind == KindEnc {
		if ct, err := e2ee.ParseCiphertext(ev.Body); err == nil {
			epoch = ledger.ID(ct.Epoch)
		}
	}
	return rt.publishOn(ctx, epoch, ev.Raw())
}

// publishOn publishes data on epoch's topic if we are on it; anything
// else (membership, epochs, sealed keys: plaintext to every member) on
// every epoch topic we are on, because the members who need it may be on
// any of them: those that have not opened the newest epoch's keys are on
// an older one, and an older one may leave out members added since (a
// kick published on the oldest alone never reached the kicked member,
// added after it). Each topic's message ID names the topic
// (p2p messageID), so pubsub does not drop the copies. On no topic (no
// keys yet, or removed), sync carries it.
func (rt *roomTopic) publishOn(ctx context.Context, epoch ledger.ID, data []byte) error {
	rt.mu.Lock()
	var ts []Topic
	switch {
	case rt.plain != nil:
		ts = []Topic{rt.plain}
	case epoch != "":
		if i := slices.IndexFunc(rt.held, func(h *epochSub) bool { return h.epoch == epoch }); i >= 0 {
			ts = []Topic{rt.held[i].t}
		} else if len(rt.held) > 0 {
			ts = []Topic{rt.held[0].t}
		}
	default:
		for _, h := range rt.held {
			ts = append(ts, h.t)
		}
	}
	rt.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.Publish(ctx, data))
	}
	return errors.Join(errs...)
}

// Peers implements Topic: the peers of every topic we are on.
func (rt *roomTopic) Peers() []peer.ID {
	rt.mu.Lock()
	ts := make([]Topic, 0, len(rt.held)+1)
	if rt.plain != nil {
		ts = append(ts, rt.plain)
	}
	for _, h := range rt.held {
		ts = append(ts, h.t)
	}
	rt.mu.Unlock()
	var out []peer.ID
	for _, t := range ts {
		for _, p := range t.Peers() {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// names returns the names of the epoch topics we are on, oldest first.
func (rt *roomTopic) names() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]string, len(rt.held))
	for i, h := range rt.held {
		out[i] = h.name
	}
	return out
}

// Close implements Topic: it stops the retire timers, waits for those
// running, and leaves every topic. It is idempotent.
func (rt *roomTopic) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	for _, h := range rt.held {
		if h.timer != nil && h.timer.Stop() {
			rt.retiring.Done()
		}
	}
	held, plain := rt.held, rt.plain
	rt.held, rt.plain = nil, nil
	rt.mu.Unlock()
	rt.retiring.Wait()
	var errs []error
	if plain != nil {
		errs = append(errs, plain.Close())
	}
	for _, h := range held {
		errs = append(errs, h.t.Close())
		rt.s.topicRooms.CompareAndDelete(h.name, rt.room)
	}
	return errors.Join(errs...)
}
