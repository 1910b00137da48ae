package e2ee

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// Invite limits.
const (
	// MaxInviteLifetime bounds Expires − Created of an invite.
	MaxInviteLifetime = 30 * 24 * time.Hour
	// InviteIDSize is the size of an invite's random ID.
	InviteIDSize = 16
	// MaxInviteSize bounds a signed invite's bytes.
	MaxInviteSize = 1024
	// MaxTokenSize bounds an encoded invite token.
	MaxTokenSize = MaxInviteSize + 64

	inviteVersion = 1
	tokenVersion  = 1
)

// Invite is a capability to join a private room, signed by the inviter
// as a record.Envelope under InviteDomain. It holds no key: whoever holds
// it and its secret (an InviteToken) may ask an admin to be admitted,
// and the admin checks the secret against the commitment (SecretHash) in
// the room's invite event, which also counts its uses and can revoke it.
//
// Canonical payload:
//
//	version 1 ‖ field(inviter) ‖ field(room) ‖ field(ID) ‖ uvarint created ‖
//	uvarint expires (unix ms) ‖ uvarint max uses ‖ field(invitee, may be empty)
type Invite struct {
	Inviter          peer.ID
	Room             string
	ID               []byte // InviteIDSize random bytes
	Created, Expires time.Time
	// MaxUses is how many joins the invite admits (NewInvite: 0 means 1).
	MaxUses uint32
	// Invitee, if set, is the only peer the invite admits.
	Invitee peer.ID
}

var _ record.Record = (*Invite)(nil)

// Domain implements record.Record.
func (*Invite) Domain() string { return InviteDomain }

// Codec implements record.Record.
func (*Invite) Codec() []byte { return invitePayloadType }

// MarshalRecord implements record.Record with the canonical encoding.
func (inv *Invite) MarshalRecord() ([]byte, error) {
	if err := inv.check(); err != nil {
		return nil, err
	}
	b := []byte{inviteVersion}
	b = appendField(b, []byte(inv.Inviter))
	b = appendField(b, []byte(inv.Room))
	b = appendField(b, inv.ID)
	b = binary.AppendUvarint(b, uint64(inv.Created.UnixMilli()))
	b = binary.AppendUvarint(b, uint64(inv.Expires.UnixMilli()))
	b = binary.AppendUvarint(b, uint64(inv.MaxUses))
	return appendField(b, []byte(inv.Invitee)), nil
}

// UnmarshalRecord implements record.Record; only the canonical encoding
// of a well-formed invite is accepted.
func (inv *Invite) UnmarshalRecord(data []byte) error {
	r := reader{b: data}
	r.version(inviteVersion)
	inviter := r.field("inviter", 1, maxPeerIDLen)
	room := r.field("room", 1, MaxRoomLen)
	id := r.field("invite ID", InviteIDSize, InviteIDSize)
	created := r.uvarint("created")
	expires := r.uvarint("expires")
	uses := r.uvarint("max uses")
	invitee := r.field("invitee", 0, maxPeerIDLen)
	if err := r.done(); err != nil {
		return err
	}
	if created > 1<<62 || expires > 1<<62 || uses > 1<<32-1 {
		return fmt.Errorf("%w: invite field out of range", ErrMalformed)
	}
	from, err := decodePeer("inviter", inviter)
	if err != nil {
		return err
	}
	var to peer.ID
	if len(invitee) > 0 {
		if to, err = decodePeer("invitee", invitee); err != nil {
			return err
		}
	}
	*inv = Invite{
		Inviter: from, Room: string(room), ID: bytes.Clone(id),
		Created: time.UnixMilli(int64(created)).UTC(), Expires: time.UnixMilli(int64(expires)).UTC(),
		MaxUses: uint32(uses), Invitee: to,
	}
	return inv.check()
}

func (inv *Invite) check() error {
	if err := checkPeer("inviter", inv.Inviter); err != nil {
		return err
	}
	if inv.Invitee != "" {
		if err := checkPeer("invitee", inv.Invitee); err != nil {
			return err
		}
	}
	if len(inv.Room) == 0 || len(inv.Room) > MaxRoomLen {
		return fmt.Errorf("%w: room of %d bytes", ErrMalformed, len(inv.Room))
	}
	if len(inv.ID) != InviteIDSize {
		return fmt.Errorf("%w: invite ID of %d bytes", ErrMalformed, len(inv.ID))
	}
	if inv.MaxUses == 0 {
		return fmt.Errorf("%w: invite admits nobody", ErrMalformed)
	}
	if inv.Created.UnixMilli() <= 0 || !inv.Expires.After(inv.Created) ||
		inv.Expires.Sub(inv.Created) > MaxInviteLifetime {
		return fmt.Errorf("%w: invite validity %v to %v", ErrMalformed, inv.Created, inv.Expires)
	}
	return nil
}

// SignedInvite is an invite with its envelope bytes. Read-only.
type SignedInvite struct {
	Invite
	raw []byte
}

// NewInvite signs inv with key, the inviter's identity, filling a random
// ID when inv.ID is nil and MaxUses 1 when it is 0, and returns it with a
// fresh 32-byte secret. The secret goes to the invitee with the invite
// (InviteToken); only SecretHash of it goes in the room.
func NewInvite(key crypto.PrivKey, inv Invite) (*SignedInvite, []byte, error) {
	if inv.ID == nil {
		inv.ID = make([]byte, InviteIDSize)
		rand.Read(inv.ID)
	}
	if inv.MaxUses == 0 {
		inv.MaxUses = 1
	}
	secret := make([]byte, SecretSize)
	rand.Read(secret)
	s, err := signInvite(key, inv)
	if err != nil {
		return nil, nil, err
	}
	return s, secret, nil
}

func signInvite(key crypto.PrivKey, inv Invite) (*SignedInvite, error) {
	inv.Created = time.UnixMilli(inv.Created.UnixMilli()).UTC()
	inv.Expires = time.UnixMilli(inv.Expires.UnixMilli()).UTC()
	if err := checkSigner(key, inv.Inviter); err != nil {
		return nil, err
	}
	if err := inv.check(); err != nil {
		return nil, err
	}
	env, err := record.Seal(&inv, key)
	if err != nil {
		return nil, fmt.Errorf("sign invite: %w", err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sign invite: %w", err)
	}
	return ParseInvite(raw)
}

// ParseInvite decodes a signed invite and checks its signature (by the
// inviter it names), encoding and fields; a tampered invite fails with
// ErrBadSignature or ErrMalformed. It does not check the time: Verify.
func ParseInvite(raw []byte) (*SignedInvite, error) {
	if len(raw) > MaxInviteSize {
		return nil, fmt.Errorf("%w: invite of %d bytes exceeds %d", ErrMalformed, len(raw), MaxInviteSize)
	}
	var inv Invite
	if err := consume(raw, &inv, inv.Codec(), func() peer.ID { return inv.Inviter }); err != nil {
		return nil, err
	}
	return &SignedInvite{Invite: inv, raw: bytes.Clone(raw)}, nil
}

// Raw returns the signed envelope bytes (do not modify).
func (s *SignedInvite) Raw() []byte { return s.raw }

// Verify checks that the invite may be used at now. A SignedInvite built
// by hand, not by NewInvite or ParseInvite, never verifies.
func (s *SignedInvite) Verify(now time.Time) error {
	if s.raw == nil {
		return fmt.Errorf("%w: invite not from NewInvite or ParseInvite", ErrBadSignature)
	}
	if s.Created.After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: invite created in the future (%v)", ErrExpired, s.Created)
	}
	if !now.Before(s.Expires) {
		return fmt.Errorf("%w: invite expired at %v", ErrExpired, s.Expires)
	}
	return nil
}

// SecretHash is the commitment to an invite's secret that the room's
// invite event carries: SHA-256 of fields("parley/v1/invite-secret",
// room, invite ID, secret).
func SecretHash(inv *Invite, secret []byte) [HashSize]byte {
	return sha256.Sum256(fields(domainInviteSecret, []byte(inv.Room), inv.ID, secret))
}

// proofInfo binds a proof to the invite, the joiner and the admin's
// bundle: fields("parley/v1/invite-proof", room, invite ID, joiner,
// admin bundle hash).
func proofInfo(inv *Invite, joiner peer.ID, adminBundle [HashSize]byte) []byte {
	return fields(domainInviteProof, []byte(inv.Room), inv.ID, []byte(joiner), adminBundle[:])
}

// ProveSecret is the joiner's side: it seals the invite's secret to an
// admin's bundle (valid at now), bound to the joiner's peer ID, so relays
// never see the secret and the proof admits nobody but joiner.
func ProveSecret(admin *SignedBundle, tok *InviteToken, joiner peer.ID, now time.Time) ([]byte, error) {
	if err := admin.Verify(now); err != nil {
		return nil, err
	}
	return sealTo(admin.PublicKey, proofInfo(&tok.Invite.Invite, joiner, admin.Hash()), tok.Secret)
}

// CheckSecret is the admin's side: it checks that inv is valid at now and
// admits joiner, opens proof with the admin's key pair kp (whose bundle
// is own) and compares the secret with commitment, the SecretHash from
// the room's invite event. Counting uses and revocation are the room's.
func CheckSecret(kp *KeyPair, own *SignedBundle, inv *SignedInvite, commitment [HashSize]byte, joiner peer.ID, proof []byte, now time.Time) error {
	if err := inv.Verify(now); err != nil {
		return err
	}
	if inv.Invitee != "" && inv.Invitee != joiner {
		return fmt.Errorf("%w: invite is for %s, not %s", ErrWrongRecipient, inv.Invitee, joiner)
	}
	if !bytes.Equal(kp.pub, own.PublicKey) {
		return fmt.Errorf("%w: key pair is not the bundle's", ErrWrongRecipient)
	}
	if len(proof) != SealedSecretSize {
		return fmt.Errorf("%w: proof of %d bytes", ErrMalformed, len(proof))
	}
	secret, err := kp.open(proofInfo(&inv.Invite, joiner, own.Hash()), proof)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInviteSecret, err)
	}
	defer clear(secret)
	got := SecretHash(&inv.Invite, secret)
	if subtle.ConstantTimeCompare(got[:], commitment[:]) != 1 {
		return ErrInviteSecret
	}
	return nil
}

// InviteToken is what an invitee is handed: the signed invite and its
// secret. Encoded:
//
//	version 1 ‖ field(signed invite) ‖ field(secret)
type InviteToken struct {
	Invite *SignedInvite
	Secret []byte
}

// Encode returns the token's canonical bytes.
func (t *InviteToken) Encode() []byte {
	b := []byte{tokenVersion}
	b = appendField(b, t.Invite.Raw())
	return appendField(b, t.Secret)
}

// ParseToken decodes a token and checks its invite's signature (not its
// time, nor the secret: only an admin can).
func ParseToken(raw []byte) (*InviteToken, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrMalformed, len(raw), MaxTokenSize)
	}
	r := reader{b: raw}
	r.version(tokenVersion)
	inv := r.field("invite", 1, MaxInviteSize)
	secret := r.field("secret", SecretSize, SecretSize)
	if err := r.done(); err != nil {
		return nil, err
	}
	s, err := ParseInvite(inv)
	if err != nil {
		return nil, err
	}
	return &InviteToken{Invite: s, Secret: bytes.Clone(secret)}, nil
}
