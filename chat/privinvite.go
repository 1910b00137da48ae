package chat

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// Invites that admit by their secret (docs/PROTOCOL.md "Private rooms"):
// the admin who makes one appends an invite event committing to the
// secret's hash; a joiner proves the secret to that admin's node
// (Config.Admission carries the proof), which checks it, counts the
// invite's uses in the room's ledger (invite_use events), admits the
// joiner and rekeys.

const (
	// KindInvite commits to an invite's secret (inviteBody).
	KindInvite = "invite"
	// KindInviteUse records one admission by an invite (inviteUseBody).
	KindInviteUse = "invite_use"
)

// inviteBody is the body of an invite event.
type inviteBody struct {
	ID   string `json:"id"`   // hex of the invite's ID
	Hash []byte `json:"hash"` // e2ee.SecretHash
	Uses uint32 `json:"uses"` // the invite's MaxUses
}

// inviteUseBody is the body of an invite_use event.
type inviteUseBody struct {
	ID   string  `json:"id"`
	Peer peer.ID `json:"peer"`
}

// Admission carries a joiner's proof of an invite's secret to the admin
// that made the invite; node satisfies it with a stream to that admin,
// whose node calls AdmitByInvite.
type Admission interface {
	Ask(ctx context.Context, admin peer.ID, invite, proof []byte) error
}

func decodeInvite(b []byte) (*inviteBody, error) {
	var v inviteBody
	if err := decodeStrict(b, maxModBody, &v); err != nil {
		return nil, fmt.Errorf("%w: invite: %v", ErrBadModeration, err)
	}
	if len(v.ID) != 2*e2ee.InviteIDSize || !isLowerHex(v.ID) || len(v.Hash) != e2ee.HashSize || v.Uses == 0 {
		return nil, fmt.Errorf("%w: invite body", ErrBadModeration)
	}
	return &v, nil
}

func decodeInviteUse(b []byte) (*inviteUseBody, error) {
	var v inviteUseBody
	if err := decodeStrict(b, maxModBody, &v); err != nil {
		return nil, fmt.Errorf("%w: invite_use: %v", ErrBadModeration, err)
	}
	if len(v.ID) != 2*e2ee.InviteIDSize || !isLowerHex(v.ID) || v.Peer == "" {
		return nil, fmt.Errorf("%w: invite_use body", ErrBadModeration)
	}
	return &v, nil
}

// judgeInvite checks invite and invite_use events: admins only. r.mu is
// held.
func judgeInvite(ev *ledger.Event, author peer.ID, st *modState) error {
	var err error
	if ev.Kind == KindInvite {
		_, err = decodeInvite(ev.Body)
	} else {
		_, err = decodeInviteUse(ev.Body)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	if !st.admins[author] {
		return fmt.Errorf("%w: %s by %s", ErrNotAdmin, ev.Kind, author)
	}
	return nil
}

// commitInvite appends the invite event of inv's secret.
func (s *Service) commitInvite(ctx context.Context, inv *e2ee.SignedInvite, secret []byte) error {
	h := e2ee.SecretHash(&inv.Invite, secret)
	b, _ := json.Marshal(inviteBody{ID: hex.EncodeToString(inv.ID), Hash: h[:], Uses: inv.MaxUses})
	_, err := s.append(ctx, inv.Room, KindInvite, b)
	return err
}

// inviteState scans room's ledger for invite id: its commitment and how
// often it was used.
func (s *Service) inviteState(ctx context.Context, room, id string) (body *inviteBody, used int, err error) {
	var before ledger.ID
	for {
		page, err := s.led.History(ctx, room, before, 1000)
		if err != nil {
			return nil, 0, storeErr(err)
		}
		for _, ev := range page {
			switch ev.Kind {
			case KindInvite:
				if b, err := decodeInvite(ev.Body); err == nil && b.ID == id && body == nil {
					body = b
				}
			case KindInviteUse:
				if u, err := decodeInviteUse(ev.Body); err == nil && u.ID == id {
					used++
				}
			}
		}
		if len(page) < 1000 {
			return body, used, nil
		}
		before = page[0].ID()
	}
}

// AdmitByInvite is the admin's side of an invite used by its secret:
// joiner (the peer that sent the proof) shows the secret of invite (the
// signed invite's bytes) with proof, sealed to our bundle. If the invite
// is ours, valid now, names joiner or nobody, is committed in its room
// and not used up, the joiner is admitted and the room rekeyed.
func (s *Service) AdmitByInvite(ctx context.Context, joiner peer.ID, invite, proof []byte) error {
	if s.cfg.Keys == nil {
		return ErrPrivateRooms
	}
	inv, err := e2ee.ParseInvite(invite)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if inv.Inviter != s.self {
		return fmt.Errorf("%w: made by %s, not this node", ErrBadInvite, inv.Inviter)
	}
	r, mr, err := s.privateAdmin(inv.Room)
	if err != nil {
		return err
	}
	pr := s.privRoom(r.ID)
	pr.rekey.Lock()
	defer pr.rekey.Unlock()
	body, used, err := s.inviteState(ctx, r.ID, hex.EncodeToString(inv.ID))
	if err != nil {
		return err
	}
	if body == nil {
		return fmt.Errorf("%w: no invite event for it in %s (revoked, or never committed)", ErrBadInvite, r.ID)
	}
	if used >= int(body.Uses) {
		return fmt.Errorf("%w: used %d of %d times", ErrBadInvite, used, body.Uses)
	}
	kp, own, err := s.cfg.Keys.OwnKeyPair(s.cfg.Keys.OwnBundle().Hash())
	if err != nil {
		return err
	}
	if err := e2ee.CheckSecret(kp, own, inv, [e2ee.HashSize]byte(body.Hash), joiner, proof, s.cfg.Clock()); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if _, err := s.cfg.Keys.Bundle(ctx, joiner); err != nil {
		return fmt.Errorf("key bundle of %s: %w", joiner, err) // before anything is written
	}
	ub, _ := json.Marshal(inviteUseBody{ID: body.ID, Peer: joiner})
	if _, err := s.append(ctx, r.ID, KindInviteUse, ub); err != nil {
		return err
	}
	if containsPeer(mr.members(), joiner) {
		return nil
	}
	if err := s.Moderate(ctx, r.ID, OpAdmit, joiner.String(), ""); err != nil {
		return err
	}
	return s.rekey(ctx, mr, r.ID, "")
}

// askAdmission proves tok's secret to its inviter (through
// Config.Admission), which admits us if it holds.
func (s *Service) askAdmission(ctx context.Context, tok *e2ee.InviteToken) error {
	if s.cfg.Admission == nil {
		return fmt.Errorf("%w: this node cannot reach an inviter (no Config.Admission)", ErrPrivateRooms)
	}
	inv := tok.Invite
	b, err := s.cfg.Keys.Bundle(ctx, inv.Inviter)
	if err != nil {
		return fmt.Errorf("key bundle of inviter %s: %w", inv.Inviter, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	proof, err := e2ee.ProveSecret(b, tok, s.self, s.cfg.Clock())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	return s.cfg.Admission.Ask(ctx, inv.Inviter, inv.Raw(), proof)
}
