package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// Private rooms (docs/PROTOCOL.md "Private rooms"): a moderated room
// whose genesis says private, under the members policy. Admitting a
// member (invite) or removing one (kick, a ban) is followed by a new key
// epoch sealed to every member's bundle, so a joiner reads nothing from
// before it and a removed member nothing after. Everything else members
// write is an enc event.

// inviteLifetime is how long an invite made here stays usable.
const inviteLifetime = 7 * 24 * time.Hour

// CreatePrivate creates a private room named name, with this node as its
// only member and admin, and returns it with an invite token for it
// (InviteToken text; it holds no key: an admin must still add the peer
// that uses it, see Invite).
func (s *Service) CreatePrivate(ctx context.Context, name string) (Room, string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Room{}, "", err
	}
	r, tok, _, err := s.createPrivate(ctx, n, "")
	return r, tok, err
}

// createPrivate makes a private room named n with us its only member
// and admin, or, given dmWith, a direct conversation whose first epoch
// is {us, dmWith}: dmWith is admitted before that epoch, and its seal is
// a DMInit, returned encoded (dmInit).
func (s *Service) createPrivate(ctx context.Context, n string, dmWith peer.ID) (_ Room, token string, dmInit []byte, _ error) {
	if s.cfg.Keys == nil {
		return Room{}, "", nil, ErrPrivateRooms
	}
	dm := dmWith != ""
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Room{}, "", nil, err
	}
	nh := hex.EncodeToString(nonce[:])
	// The membership record keeps no name: it is stored in plaintext.
	r := Room{ID: PrivateRoomID(nh, s.self), Moderated: true, Private: true}
	s.joinMu.Lock()
	if err := s.joinRoom(ctx, r); err != nil {
		s.joinMu.Unlock()
		return Room{}, "", nil, err
	}
	body, _ := json.Marshal(createBody{Policy: PolicyMembers, Private: true, Nonce: nh, DM: dm})
	_, err := s.led.Append(ctx, s.key, r.ID, KindCreate, body, s.cfg.Clock())
	s.joinMu.Unlock()
	if err != nil {
		return Room{}, "", nil, fmt.Errorf("create private room: %w", storeErr(err))
	}
	mr := s.modRoom(r.ID)
	if dm {
		if err := s.Moderate(ctx, r.ID, OpAdmit, dmWith.String(), ""); err != nil {
			return Room{}, "", nil, err
		}
	}
	init, err := s.rekeyDM(ctx, mr, r.ID, n, dmWith)
	if err != nil {
		return Room{}, "", nil, err
	}
	s.announceJoin(ctx, r)
	if dm {
		return s.describe(r), "", init, nil
	}
	tok, err := s.newInvite(ctx, r.ID, "")
	if err != nil {
		return Room{}, "", nil, err
	}
	return s.describe(r), tok, nil, nil
}

// rekey starts a new epoch for the room's current members: an epoch
// event, its secret sealed to each member's bundle in epoch_keys chunks,
// then the room's name encrypted under it (a joiner reads nothing older).
// name "" means the name known here.
func (s *Service) rekey(ctx context.Context, mr *modRoom, room, name string) error {
	_, err := s.rekeyDM(ctx, mr, room, name, "")
	return err
}

// rekeyDM is rekey where member dmWith (if set) gets its seal as a
// DMInit (a direct conversation's first epoch), returned encoded.
func (s *Service) rekeyDM(ctx context.Context, mr *modRoom, room, name string, dmWith peer.ID) (dmInit []byte, _ error) {
	if name == "" {
		name = s.roomName(ctx, room)
	}
	members := mr.members()
	prev, _, _ := mr.currentEpoch()
	bundles := make([]*e2ee.SignedBundle, len(members))
	for i, m := range members {
		var err error
		if m == s.self {
			bundles[i] = s.cfg.Keys.OwnBundle()
		} else if bundles[i], err = s.cfg.Keys.Bundle(ctx, m); err != nil {
			return nil, fmt.Errorf("key bundle of %s: %w", m, err)
		}
	}
	body, _ := json.Marshal(epochBody{Prev: prev, Members: members})
	ev, err := s.append(ctx, room, KindEpoch, body)
	if err != nil {
		return nil, err
	}
	ep := e2ee.Epoch{Room: room, ID: []byte(ev.ID())}
	secret := e2ee.NewEpochSecret()
	defer clear(secret)
	now := s.cfg.Clock()
	var seals []sealEntry
	for i, b := range bundles {
		h := b.Hash()
		if members[i] == dmWith {
			d, err := e2ee.SealDMInit(s.key, b, ep, secret, now)
			if err != nil {
				return nil, fmt.Errorf("dm-init to %s: %w", members[i], err)
			}
			dmInit = d.Encode()
			seals = append(seals, sealEntry{Peer: members[i], Bundle: h[:], DMInit: dmInit})
			continue
		}
		sealed, err := e2ee.SealEpochSecret(b, ep, secret, now)
		if err != nil {
			return nil, fmt.Errorf("seal to %s: %w", members[i], err)
		}
		seals = append(seals, sealEntry{Peer: members[i], Bundle: h[:], Sealed: sealed})
	}
	for len(seals) > 0 {
		n := min(len(seals), maxSealsPerChunk)
		kb, _ := json.Marshal(epochKeysBody{Epoch: ev.ID(), Seals: seals[:n]})
		seals = seals[n:]
		if _, err := s.append(ctx, room, KindEpochKeys, kb); err != nil {
			return nil, err
		}
	}
	// On the new epoch's topic before anything is sealed under it (its
	// sealed keys went on the previous one: see roomtopic.go).
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j != nil {
		s.moveTopic(j)
	}
	if name != "" {
		if _, err := s.sendPrivate(ctx, mr, room, innerName, []byte(name)); err != nil {
			return nil, fmt.Errorf("name under the new epoch: %w", err)
		}
	}
	return dmInit, nil
}

// stale reports whether the room's current epoch is not sealed to
// exactly its members: a removal or an addition made in a branch whose
// epoch lost (winner), or whose rekey never came.
func stale(mr *modRoom) bool {
	epoch, members, _ := mr.currentEpoch()
	return epoch != "" && !slices.Equal(members, mr.members())
}

// rekeyIfStale starts a new epoch if we are an admin of the private room
// and its current epoch is stale, so that every branch's removals (and
// additions) stand. Concurrent rekeys by several admins resolve
// like any concurrent epochs. It runs on its own goroutine (onModCommit).
func (s *Service) rekeyIfStale(ctx context.Context, mr *modRoom, room string) {
	if _, st := mr.snapshot(); st == nil || !st.admins[s.self] || !stale(mr) {
		return
	}
	p := s.privRoom(room)
	p.rekey.Lock()
	defer p.rekey.Unlock()
	if !stale(mr) {
		return // a kick's own rekey came first
	}
	if err := s.rekey(ctx, mr, room, ""); err != nil {
		s.log.Warn("rekey after a removal", "room", room, "err", err)
	}
}

// privateAdmin resolves room to a joined private room we administer.
func (s *Service) privateAdmin(room string) (Room, *modRoom, error) {
	if s.cfg.Keys == nil {
		return Room{}, nil, ErrPrivateRooms
	}
	r, err := s.resolve(room)
	if err != nil {
		return Room{}, nil, err
	}
	if _, ok := s.joinedRoom(r.ID); !ok {
		return Room{}, nil, fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	mr := s.modRoom(r.ID)
	if mr == nil || !mr.isPrivate() {
		return Room{}, nil, fmt.Errorf("%w: %s is not a private room", ErrUnknownRoom, room)
	}
	if _, st := mr.snapshot(); st == nil || !st.admins[s.self] {
		return Room{}, nil, fmt.Errorf("%w: %s", ErrNotAdmin, room)
	}
	return r, mr, nil
}

// Invite makes an invite token for a private room we administer. With a
// target peer ID, it first adds that peer as a member and starts a new
// epoch sealed to it too (its bundle is fetched through Config.Keys), and
// the token names it; the peer joins with JoinInvite. Without one, the
// room commits to the token's secret (an invite event): one peer that
// proves it to this node is admitted (AdmitByInvite).
func (s *Service) Invite(ctx context.Context, room, target string) (string, error) {
	r, mr, err := s.privateAdmin(room)
	if err != nil {
		return "", err
	}
	if target == "" {
		return s.newInvite(ctx, r.ID, "")
	}
	p, err := peer.Decode(target)
	if err != nil {
		return "", fmt.Errorf("%w: peer %q: %v", ErrBadModeration, target, err)
	}
	if _, err := s.cfg.Keys.Bundle(ctx, p); err != nil {
		return "", fmt.Errorf("key bundle of %s: %w", p, err) // before anything is written
	}
	pr := s.privRoom(r.ID)
	pr.rekey.Lock()
	defer pr.rekey.Unlock()
	if !containsPeer(mr.members(), p) {
		if err := s.Moderate(ctx, r.ID, OpAdmit, target, ""); err != nil {
			return "", err
		}
		if err := s.rekey(ctx, mr, r.ID, ""); err != nil {
			return "", err
		}
	}
	return s.newInvite(ctx, r.ID, p)
}

// Kick removes a member from a private room we administer (a ban: its
// events not in the ban's past are hidden) and starts a new epoch without
// it, so it reads nothing written afterwards.
func (s *Service) Kick(ctx context.Context, room, target string) error {
	r, _, err := s.privateAdmin(room)
	if err != nil {
		return err
	}
	p, err := peer.Decode(target)
	if err != nil {
		return fmt.Errorf("%w: peer %q: %v", ErrBadModeration, target, err)
	}
	return s.kick(ctx, r.ID, p, OpBan)
}

// kick removes p from private room by op (OpBan, or OpPurge to hide all
// its events) and rekeys.
func (s *Service) kick(ctx context.Context, room string, p peer.ID, op string) error {
	_, mr, err := s.privateAdmin(room)
	if err != nil {
		return err
	}
	pr := s.privRoom(room)
	pr.rekey.Lock()
	defer pr.rekey.Unlock()
	return s.kickLocked(ctx, mr, room, p, op)
}

// kickLocked is kick with the room's rekey lock held.
func (s *Service) kickLocked(ctx context.Context, mr *modRoom, room string, p peer.ID, op string) error {
	// Unlike a moderation ban, a kick names the usual parents: what the
	// member wrote before its removal stays visible.
	if _, err := s.append(ctx, room, KindMod, encodeMod(modAct{op: op, peer: p})); err != nil {
		return err
	}
	return s.rekey(ctx, mr, room, "")
}

// newInvite signs an invite capability for room (naming invitee, if set)
// and returns its token as text.
func (s *Service) newInvite(ctx context.Context, room string, invitee peer.ID) (string, error) {
	now := s.cfg.Clock()
	inv, secret, err := e2ee.NewInvite(s.key, e2ee.Invite{Inviter: s.self, Room: room,
		Created: now, Expires: now.Add(inviteLifetime), Invitee: invitee})
	if err != nil {
		return "", err
	}
	defer clear(secret)
	// The room holds the commitment: an invite naming nobody admits by
	// its secret; every invite can be listed and revoked (privrevoke.go).
	// A direct conversation's hand-over (dm.go) is no such invite.
	if mr := s.modRoom(room); invitee == "" || mr == nil || !mr.isDM() {
		if err := s.commitInvite(ctx, inv, secret); err != nil {
			return "", err
		}
	}
	tok := e2ee.InviteToken{Invite: inv, Secret: secret}
	return base64.RawURLEncoding.EncodeToString(tok.Encode()), nil
}

// JoinInvite joins the private room an invite token names. The token must
// be valid now and name us (or nobody); reading the room needs an admin
// to have added us (Invite with our peer ID), after which the room's
// history and keys come by sync.
func (s *Service) JoinInvite(ctx context.Context, token string) (Room, error) {
	if s.cfg.Keys == nil {
		return Room{}, ErrPrivateRooms
	}
	tok, err := parseToken(token)
	if err != nil {
		return Room{}, err
	}
	inv := tok.Invite
	if err := inv.Verify(s.cfg.Clock()); err != nil {
		return Room{}, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if inv.Invitee != "" && inv.Invitee != s.self {
		return Room{}, fmt.Errorf("%w: %w", ErrBadInvite, e2ee.ErrWrongRecipient)
	}
	if !looksLikeModeratedID(inv.Room) {
		return Room{}, fmt.Errorf("%w: room %q", ErrBadInvite, inv.Room)
	}
	if inv.Invitee == "" {
		// Not added by name: prove the secret to the inviter first, so
		// that a refused token leaves nothing joined.
		if err := s.askAdmission(ctx, tok); err != nil {
			return Room{}, err
		}
	}
	// Private by construction: no topic until the epoch keys come
	// (roomtopic.go).
	if err := s.loadModRoom(ctx, inv.Room); err != nil {
		return Room{}, err
	}
	return s.join(ctx, Room{ID: inv.Room, Moderated: true, Private: true})
}

// parseToken decodes an invite token's text and checks its signature.
func parseToken(token string) (*e2ee.InviteToken, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) > e2ee.MaxTokenSize {
		return nil, fmt.Errorf("%w: not an invite token", ErrBadInvite)
	}
	tok, err := e2ee.ParseToken(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	return tok, nil
}

// IsPrivate reports whether room is a known private room.
func (s *Service) IsPrivate(room string) bool {
	mr := s.modRoom(room)
	return mr != nil && mr.isPrivate()
}
