package e2ee

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/record"
)

func newTestInvite(t *testing.T, inviter *person, mod func(*Invite)) (*InviteToken, [HashSize]byte) {
	t.Helper()
	inv := Invite{Inviter: inviter.id, Room: "privroom1", Created: t0.Add(-time.Minute), Expires: t0.Add(24 * time.Hour)}
	if mod != nil {
		mod(&inv)
	}
	s, secret, err := NewInvite(inviter.key, inv)
	if err != nil {
		t.Fatal(err)
	}
	return &InviteToken{Invite: s, Secret: secret}, SecretHash(&s.Invite, secret)
}

func TestInviteRoundTripAndProof(t *testing.T) {
	admin, joiner := newPerson(t, 1), newPerson(t, 2)
	tok, commitment := newTestInvite(t, admin, nil)
	if tok.Invite.MaxUses != 1 || len(tok.Invite.ID) != InviteIDSize || tok.Invite.Invitee != "" {
		t.Fatalf("defaults not applied: %+v", tok.Invite.Invite)
	}
	got, err := ParseToken(tok.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Invite.Raw(), tok.Invite.Raw()) || !bytes.Equal(got.Secret, tok.Secret) {
		t.Fatal("token round trip changed it")
	}
	if err := got.Invite.Verify(t0); err != nil {
		t.Fatal(err)
	}
	proof, err := ProveSecret(admin.bundle, got, joiner.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSecret(admin.kp, admin.bundle, got.Invite, commitment, joiner.id, proof, t0); err != nil {
		t.Fatalf("CheckSecret: %v", err)
	}
}

// TestInviteAttacks plays the ways a leaked, stolen or forged invite is
// used: each is refused with its own sentinel.
func TestInviteAttacks(t *testing.T) {
	admin, joiner, thief := newPerson(t, 1), newPerson(t, 2), newPerson(t, 3)
	tok, commitment := newTestInvite(t, admin, nil)
	proof, err := ProveSecret(admin.bundle, tok, joiner.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	check := func(inv *SignedInvite, commitment [HashSize]byte, who *person, proof []byte, now time.Time) error {
		return CheckSecret(admin.kp, admin.bundle, inv, commitment, who.id, proof, now)
	}
	if err := check(tok.Invite, commitment, thief, proof, t0); !errors.Is(err, ErrInviteSecret) {
		t.Errorf("joiner's proof replayed by a thief: %v", err)
	}
	wrong := tok.Secret[:]
	wrong = bytes.Clone(wrong)
	wrong[0] ^= 1
	guess, _ := ProveSecret(admin.bundle, &InviteToken{Invite: tok.Invite, Secret: wrong}, thief.id, t0)
	if err := check(tok.Invite, commitment, thief, guess, t0); !errors.Is(err, ErrInviteSecret) {
		t.Errorf("wrong secret: %v", err)
	}
	other, otherCommitment := newTestInvite(t, admin, nil)
	if err := check(other.Invite, otherCommitment, joiner, proof, t0); !errors.Is(err, ErrInviteSecret) {
		t.Errorf("proof of one invite for another: %v", err)
	}
	if err := check(tok.Invite, commitment, joiner, proof, tok.Invite.Expires); !errors.Is(err, ErrExpired) {
		t.Errorf("expired invite: %v", err)
	}
	bad := bytes.Clone(proof)
	bad[len(bad)-1] ^= 1
	if err := check(tok.Invite, commitment, joiner, bad, t0); !errors.Is(err, ErrInviteSecret) {
		t.Errorf("tampered proof: %v", err)
	}
	named, namedCommitment := newTestInvite(t, admin, func(inv *Invite) { inv.Invitee = joiner.id })
	stolen, _ := ProveSecret(admin.bundle, named, thief.id, t0)
	if err := check(named.Invite, namedCommitment, thief, stolen, t0); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("invite for joiner used by a thief: %v", err)
	}
}

func TestInviteTampered(t *testing.T) {
	admin, m := newPerson(t, 1), newPerson(t, 9)
	tok, _ := newTestInvite(t, admin, nil)
	raw := tok.Invite.Raw()
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := ParseInvite(bad); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	// A capability naming admin as inviter, signed by someone else.
	inv := tok.Invite.Invite
	inv.MaxUses = 100
	env, err := record.Seal(&inv, m.key)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := env.Marshal()
	if _, err := ParseInvite(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged inviter: %v", err)
	}
	for name, mod := range map[string]func(*Invite){
		"too long":   func(inv *Invite) { inv.Expires = inv.Created.Add(MaxInviteLifetime + time.Second) },
		"short ID":   func(inv *Invite) { inv.ID = []byte{1, 2, 3} },
		"empty room": func(inv *Invite) { inv.Room = "" },
	} {
		inv := Invite{Inviter: admin.id, Room: "privroom1", Created: t0, Expires: t0.Add(time.Hour)}
		mod(&inv)
		if _, _, err := NewInvite(admin.key, inv); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := NewInvite(m.key, Invite{Inviter: admin.id, Room: "privroom1", Created: t0, Expires: t0.Add(time.Hour)}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signing as another inviter: %v", err)
	}
}
