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

// Invites (docs/PROTOCOL.md "Private rooms"): the admin who makes one
// appends an invite event committing to the secret's hash (with its
// expiry, uses and invitee, so admins can list it); a joiner proves the
// secret to that admin's node (Config.Admission carries the proof),
// which checks it, counts the invite's uses in the room's ledger
// (invite_use events), refuses it if revoked (invite_revoke events,
// privrevoke.go), admits the joiner and rekeys.

const (
	// KindInvite commits to an invite's secret (inviteBody).
	KindInvite = "invite"
	// KindInviteUse records one admission by an invite (inviteUseBody).
	KindInviteUse = "invite_use"
	// KindInviteRevoke revokes an invite (inviteRevokeBody).
	KindInviteRevoke = "invite_revoke"
)

// inviteBody is the body of an invite event.
type inviteBody struct {
	ID   string `json:"id"`   // hex of the invite's ID
	Hash []byte `json:"hash"` // e2ee.SecretHash
	Uses uint32 `json:"uses"` // the invite's MaxUses
	// Expires is the invite's expiry (unix ms); Invitee the peer it
	// names, if any. Both are copies of the signed invite's fields, for
	// listing (Invites); admission checks the signed invite itself.
	Expires int64   `json:"expires,omitempty"`
	Invitee peer.ID `json:"invitee,omitempty"`
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
	if len(v.ID) != 2*e2ee.InviteIDSize || !isLowerHex(v.ID) || len(v.Hash) != e2ee.HashSize || v.Uses == 0 || v.Expires < 0 {
		return nil, fmt.Errorf("%w: invite body", ErrBadModeration)
	}
	if v.Invitee != "" {
		if err := v.Invitee.Validate(); err != nil {
			return nil, fmt.Errorf("%w: invite invitee: %v", ErrBadModeration, err)
		}
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

// judgeInvite checks invite and invite_use events in their causal past:
// admins only, and no use of an invite revoked in the use's past (a use
// concurrent with the revocation stands: privrevoke.go). r.mu is held.
func (r *modRoom) judgeInvite(ev *ledger.Event, author peer.ID, st *modState, past *frontier) error {
	var err error
	if ev.Kind == KindInvite {
		_, err = decodeInvite(ev.Body)
	} else {
		var u *inviteUseBody
		if u, err = decodeInviteUse(ev.Body); err == nil && r.revokedIn(past, u.ID) {
			return fmt.Errorf("%w: %w: use of invite %s after its revocation", ErrNotAllowed, ErrInviteRevoked, u.ID)
		}
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
	b, _ := json.Marshal(inviteBody{ID: hex.EncodeToString(inv.ID), Hash: h[:], Uses: inv.MaxUses,
		Expires: inv.Expires.UnixMilli(), Invitee: inv.Invitee})
	_, err := s.append(ctx, inv.Room, KindInvite, b)
	return err
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
	rec, err := s.invite(ctx, r.ID, hex.EncodeToString(inv.ID))
	if err != nil {
		return err
	}
	body := rec.body
	if rec.revoked {
		return fmt.Errorf("%w: %w", ErrBadInvite, ErrInviteRevoked)
	}
	if rec.uses >= int(body.Uses) {
		return fmt.Errorf("%w: used %d of %d times", ErrBadInvite, rec.uses, body.Uses)
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
