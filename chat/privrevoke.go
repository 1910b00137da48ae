package chat

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// Revoking and listing invites (docs/PROTOCOL.md "Private rooms"). An
// invite_revoke event, by an admin in its causal past, revokes an invite
// for good. It is a mod event (like an epoch) that changes no admin or
// ban, so "is the revocation in this event's past" is one bit of a
// frontier:
//
//   - an invite_use whose causal past holds a revocation of its invite is
//     refused by every node, and an admin's node refuses admission by a
//     revoked invite (AdmitByInvite);
//   - an invite_use concurrent with the revocation (the admitting admin
//     had not seen it) stands: its joiner was admitted and rekeyed in,
//     and an admin who wants it out kicks it. Which events are in which
//     past is a fact of the DAG, so every node decides alike.
//
// Revoking an invite that names a peer which is a member but has
// written nothing in the room yet also kicks that peer (a ban and a new
// epoch without it): a named invite added it and sealed it the epoch's
// key, so revocation must rekey to take effect.

const opInviteRevoke = "invite_revoke"

// inviteRevokeBody is the body of an invite_revoke event.
type inviteRevokeBody struct {
	ID string `json:"id"` // hex of the invite's ID
}

func decodeInviteRevoke(b []byte) (*inviteRevokeBody, error) {
	var v inviteRevokeBody
	if err := decodeStrict(b, maxModBody, &v); err != nil {
		return nil, fmt.Errorf("%w: invite_revoke: %v", ErrBadModeration, err)
	}
	if !validInviteID(v.ID) {
		return nil, fmt.Errorf("%w: invite_revoke body", ErrBadModeration)
	}
	return &v, nil
}

func validInviteID(id string) bool { return len(id) == 2*e2ee.InviteIDSize && isLowerHex(id) }

// judgeRevoke checks an invite_revoke event in its causal past: by an
// admin. Revoking an invite the past does not hold is allowed (it may be
// concurrent with the invite; it then refuses its uses all the same).
// r.mu is held.
func judgeRevoke(ev *ledger.Event, author peer.ID, st *modState) (modAct, error) {
	v, err := decodeInviteRevoke(ev.Body)
	if err != nil {
		return modAct{}, fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	if !st.admins[author] {
		return modAct{}, fmt.Errorf("%w: %s by %s", ErrNotAdmin, ev.Kind, author)
	}
	return modAct{op: opInviteRevoke, invite: v.ID}, nil
}

// revokedIn reports whether f holds a revocation of invite id. Mod
// events are rare (admins make them), so this is a scan. r.mu is held.
func (r *modRoom) revokedIn(f *frontier, id string) bool {
	for i, m := range r.list {
		if m.act.op == opInviteRevoke && m.act.invite == id && f.has(i) {
			return true
		}
	}
	return false
}

// inviteRecord is what a room's ledger says of one invite.
type inviteRecord struct {
	body    *inviteBody
	inviter peer.ID
	uses    int
	revoked bool
}

// invites scans room's ledger for its invite events, their uses and
// revocations, in (Lamport, ID) order of the invite events. A use or
// revocation of an invite the room holds no invite event for is ignored.
func (s *Service) invites(ctx context.Context, room string) ([]*inviteRecord, error) {
	byID := map[string]*inviteRecord{}
	var order []*inviteRecord
	uses := map[string]int{}
	revoked := map[string]bool{}
	var before ledger.ID
	for {
		page, err := s.led.History(ctx, room, before, 1000)
		if err != nil {
			return nil, storeErr(err)
		}
		for i := len(page) - 1; i >= 0; i-- { // newest first, across pages
			ev := page[i]
			switch ev.Kind {
			case KindInvite:
				if b, err := decodeInvite(ev.Body); err == nil {
					// The oldest invite event of an ID is the one that counts.
					rec := &inviteRecord{body: b, inviter: ev.Author}
					if old := byID[b.ID]; old != nil {
						order = slices.DeleteFunc(order, func(x *inviteRecord) bool { return x == old })
					}
					byID[b.ID] = rec
					order = append(order, rec)
				}
			case KindInviteUse:
				if u, err := decodeInviteUse(ev.Body); err == nil {
					uses[u.ID]++
				}
			case KindInviteRevoke:
				if v, err := decodeInviteRevoke(ev.Body); err == nil {
					revoked[v.ID] = true
				}
			}
		}
		if len(page) < 1000 {
			break
		}
		before = page[0].ID()
	}
	slices.Reverse(order)
	for _, rec := range order {
		rec.uses, rec.revoked = uses[rec.body.ID], revoked[rec.body.ID]
	}
	return order, nil
}

// invite returns the record of invite id in room, or ErrBadInvite if the
// room holds no invite event for it.
func (s *Service) invite(ctx context.Context, room, id string) (*inviteRecord, error) {
	recs, err := s.invites(ctx, room)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.body.ID == id {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w: %w: no invite event for it in %s", ErrBadInvite, ErrUnknownInvite, room)
}

// InviteInfo is one invite of a private room, as room_invites shows it.
type InviteInfo struct {
	ID      string // hex
	Inviter peer.ID
	Invitee peer.ID   // "" when it names nobody
	Expires time.Time // zero if its invite event does not say
	MaxUses int
	// Uses counts its invite_use events; an invite naming a peer counts
	// one use once that peer has written in the room.
	Uses    int
	Revoked bool
}

// Invites lists the invites of a private room we administer that have
// not expired, oldest first, revoked and used-up ones included (their
// fields say so).
func (s *Service) Invites(ctx context.Context, room string) ([]InviteInfo, error) {
	r, _, err := s.privateAdmin(room)
	if err != nil {
		return nil, err
	}
	recs, err := s.invites(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	seen, err := s.appeared(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock()
	out := []InviteInfo{}
	for _, rec := range recs {
		b := rec.body
		info := InviteInfo{ID: b.ID, Inviter: rec.inviter, Invitee: b.Invitee, MaxUses: int(b.Uses),
			Uses: rec.uses, Revoked: rec.revoked}
		if b.Expires > 0 {
			info.Expires = time.UnixMilli(b.Expires).UTC()
			if !now.Before(info.Expires) {
				continue
			}
		}
		if b.Invitee != "" && seen[b.Invitee] {
			info.Uses = max(info.Uses, 1)
		}
		out = append(out, info)
	}
	return out, nil
}

// RevokeInvite revokes invite id (hex, as Invites shows it) of a private
// room we administer: an invite_revoke event, after which no admin's
// node admits by it. Revoking a revoked invite does nothing. If the
// invite names a peer that is a member (not an admin) but has written
// nothing in the room, that peer is kicked too (Kick).
func (s *Service) RevokeInvite(ctx context.Context, room, id string) error {
	r, mr, err := s.privateAdmin(room)
	if err != nil {
		return err
	}
	if !validInviteID(id) {
		return fmt.Errorf("%w: invite ID %q is not %d lower-case hex digits", ErrBadInvite, id, 2*e2ee.InviteIDSize)
	}
	pr := s.privRoom(r.ID)
	pr.rekey.Lock()
	defer pr.rekey.Unlock()
	rec, err := s.invite(ctx, r.ID, id)
	if err != nil {
		return err
	}
	if !rec.revoked {
		b, _ := json.Marshal(inviteRevokeBody{ID: id})
		if _, err := s.append(ctx, r.ID, KindInviteRevoke, b); err != nil {
			return err
		}
	}
	p := rec.body.Invitee
	if p == "" || p == s.self || !containsPeer(mr.members(), p) {
		return nil
	}
	if _, st := mr.snapshot(); st != nil && st.admins[p] {
		return nil // made an admin since: removing one is room_unadmin's, not ours
	}
	seen, err := s.appeared(ctx, r.ID)
	if err != nil || seen[p] {
		return err
	}
	return s.kickLocked(ctx, mr, r.ID, p, OpBan)
}

// InviteTokenID returns the ID (hex, as Invites shows it) of the invite
// in token, after checking the token's form and signature.
func InviteTokenID(token string) (string, error) {
	tok, err := parseToken(token)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(tok.Invite.ID), nil
}

// appeared returns the peers with a stored event in room.
func (s *Service) appeared(ctx context.Context, room string) (map[peer.ID]bool, error) {
	if err := s.ensureMembers(ctx, room); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[peer.ID]bool{}
	if rm := s.members[room]; rm != nil {
		for p := range rm.m {
			out[p] = true
		}
	}
	return out, nil
}
