package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// A direct conversation's first epoch reaches its recipient as an
// e2ee.DMInit (docs/PROTOCOL.md "Direct messages"): the sender signs
// "parley/v1/dm-init" ‖ sender ‖ recipient ‖ bundle hash ‖ room ‖ epoch
// and seals the epoch secret to the recipient's bundle under the same
// bytes as HPKE info. It is the recipient's entry in the epoch_keys of
// that epoch, and the hand-over (direct or from an inbox) carries the
// same bytes. The recipient accepts each (room, epoch) once, and never
// an epoch that does not follow the one it accepted for the room; the
// accepted epoch is kept under /dm/accepted/<room>.

var (
	// ErrBadDMInit is returned (wrapped with the reason, and
	// e2ee.ErrWrongRecipient, ErrBadSignature or ErrDecrypt when one
	// applies) for a direct conversation's first message that is not for
	// us, not signed by its sender, re-sealed, or for an epoch older than
	// the one accepted for its room. Nothing of it is stored.
	ErrBadDMInit = errors.New("invalid direct conversation start")
	// ErrDMInitSeen is returned for a first message whose (room, epoch)
	// was accepted before (a hand-over repeated, or replayed): nothing
	// changes, and a conversation left stays left.
	ErrDMInitSeen = errors.New("direct conversation start already accepted")
)

var dmAcceptedPrefix = ds.NewKey("/dm/accepted")

// judgeDMInit checks, in the ledger's judgement of an epoch_keys event
// by author for epoch of room, that entry e's DMInit parses, names them
// and e's peer and bundle, and is signed by author: a pure function of
// the event, as every judgement.
func judgeDMInit(e sealEntry, author peer.ID, room string, epoch ledger.ID) error {
	d, err := e2ee.ParseDMInit(e.DMInit)
	if err != nil {
		return err
	}
	if d.Sender != author || d.Recipient != e.Peer || !bytes.Equal(d.BundleHash[:], e.Bundle) ||
		d.Epoch.Room != room || string(d.Epoch.ID) != string(epoch) {
		return fmt.Errorf("%w: dm-init fields differ from its epoch_keys entry", ErrBadModeration)
	}
	return d.VerifySignature()
}

// openDMInit checks that d is for us, sealed to a bundle of ours still
// held and signed by its sender, and returns the epoch secret.
func (s *Service) openDMInit(d *e2ee.DMInit) ([]byte, error) {
	if d.Recipient != s.self {
		return nil, fmt.Errorf("%w: %w: for %s", ErrBadDMInit, e2ee.ErrWrongRecipient, d.Recipient)
	}
	if d.Sender == s.self {
		return nil, fmt.Errorf("%w: from ourselves", ErrBadDMInit)
	}
	if !looksLikeModeratedID(d.Epoch.Room) {
		return nil, fmt.Errorf("%w: room %q", ErrBadDMInit, d.Epoch.Room)
	}
	kp, own, err := s.cfg.Keys.OwnKeyPair(d.BundleHash)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: sealed to a bundle of ours not held (%v)", ErrBadDMInit, e2ee.ErrWrongRecipient, err)
	}
	secret, err := e2ee.OpenDMInit(kp, own, d)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDMInit, err)
	}
	return secret, nil
}

// checkDMEpoch refuses epoch of room if it was accepted before
// (ErrDMInitSeen) or another epoch was and epoch does not follow it in
// the room's ledger here (ErrBadDMInit: older, or unrelated).
func (s *Service) checkDMEpoch(ctx context.Context, room string, epoch ledger.ID) error {
	v, err := s.store.Get(ctx, dmAcceptedPrefix.ChildString(room))
	if errors.Is(err, ds.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	accepted := ledger.ID(v)
	if accepted == epoch {
		return fmt.Errorf("%w: room %s epoch %s", ErrDMInitSeen, room, epoch)
	}
	if mr := s.modRoom(room); mr != nil && mr.epochFollows(epoch, accepted) {
		return nil
	}
	return fmt.Errorf("%w: epoch %s of room %s does not follow the accepted %s (older, or replayed)",
		ErrBadDMInit, epoch, room, accepted)
}

// epochFollows reports whether epoch later descends from epoch earlier
// through the predecessors its epoch events name.
func (r *modRoom) epochFollows(later, earlier ledger.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := later, 0; id != "" && n <= len(r.list); n++ {
		m := r.mods[id]
		if m == nil || m.act.op != opEpoch {
			return false
		}
		if m.act.epoch.Prev == earlier {
			return true
		}
		id = m.act.epoch.Prev
	}
	return false
}

// keepDMInit derives the chains of d's epoch (members: its sender and
// us) from secret, stores them and the accepted epoch, and syncs.
// p.mu is held.
func (s *Service) keepDMInit(ctx context.Context, p *privRoom, d *e2ee.DMInit, secret []byte) error {
	room, epoch := d.Epoch.Room, ledger.ID(d.Epoch.ID)
	members := []peer.ID{d.Sender, s.self}
	slices.Sort(members)
	cs := make(map[peer.ID]*e2ee.Chain, len(members))
	for _, m := range members {
		ck, err := e2ee.ChainKey(secret, d.Epoch, m)
		if err != nil {
			return err
		}
		c, err := e2ee.NewChain(d.Epoch, m, ck)
		clear(ck)
		if err != nil {
			return err
		}
		cs[m] = c
		if err := s.putChain(ctx, room, epoch, m, c); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	// The epoch's topic too: the recipient meets the sender there
	// (privtopic.go), and opens no other seal of this epoch.
	if err := s.putEpochTopic(ctx, p, d.Epoch, secret); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if err := s.store.Put(ctx, dmAcceptedPrefix.ChildString(room), []byte(epoch)); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	for _, k := range []ds.Key{privPrefix.ChildString(room), dmAcceptedPrefix} {
		if err := s.store.Sync(ctx, k); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	p.chains[epoch] = cs
	return nil
}

// acceptDMInit is the whole check of a first message (raw, encoded):
// it opens it, refuses a seen or older epoch, and keeps its chains. On
// error nothing is stored. p.mu is taken here.
func (s *Service) acceptDMInit(ctx context.Context, raw []byte) (*e2ee.DMInit, error) {
	if len(raw) > e2ee.MaxDMInitSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadDMInit, len(raw))
	}
	d, err := e2ee.ParseDMInit(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDMInit, err)
	}
	secret, err := s.openDMInit(d)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	p := s.privRoom(d.Epoch.Room)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.checkDMEpoch(ctx, d.Epoch.Room, ledger.ID(d.Epoch.ID)); err != nil {
		return d, err
	}
	return d, s.keepDMInit(ctx, p, d, secret)
}

// openEpochKeysDM is openEpochKeys for our entry holding a DMInit (the
// conversation reached us by sync before any hand-over). p.mu is held.
func (s *Service) openEpochKeysDM(ctx context.Context, p *privRoom, ev *ledger.Event, mine *sealEntry) {
	d, err := e2ee.ParseDMInit(mine.DMInit)
	if err != nil {
		return
	}
	secret, err := s.openDMInit(d)
	if err != nil {
		s.log.Warn("dm-init does not open", "room", ev.Room, "err", err)
		return
	}
	defer clear(secret)
	if err := s.checkDMEpoch(ctx, ev.Room, ledger.ID(d.Epoch.ID)); err != nil {
		s.log.Warn("dm-init refused", "room", ev.Room, "err", err)
		return
	}
	if err := s.keepDMInit(ctx, p, d, secret); err != nil {
		s.log.Warn("keep dm-init", "room", ev.Room, "err", err)
	}
}
