package e2ee

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	dhtrecord "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

var _ dhtrecord.Validator = BundleValidator{}

func TestBundleRoundTrip(t *testing.T) {
	a := newPerson(t, 1)
	got, err := ParseBundle(a.bundle.Raw())
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != a.id || got.Seq != 1 || got.Suite != Suite || !bytes.Equal(got.PublicKey, a.kp.PublicKey()) ||
		!got.Created.Equal(t0.Add(-time.Hour)) || got.Hash() != a.bundle.Hash() {
		t.Fatalf("round trip changed the bundle: %+v", got.Bundle)
	}
	if err := got.Verify(t0); err != nil {
		t.Fatal(err)
	}
	if n := len(a.bundle.Raw()); n > MaxBundleSize {
		t.Fatalf("bundle of %d bytes exceeds MaxBundleSize", n)
	}
}

func TestBundleSignerMustBePeer(t *testing.T) {
	a, m := newPerson(t, 1), newPerson(t, 9)
	b := a.bundle.Bundle
	if _, err := SignBundle(m.key, b); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("SignBundle with another key: %v", err)
	}
	// The attacker signs a bundle naming a with its own key, bypassing
	// SignBundle: the envelope verifies, the signer check must refuse it.
	env, err := record.Seal(&b, m.key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := env.Marshal()
	if _, err := ParseBundle(raw); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bundle of a signed by m: %v", err)
	}
}

// TestBundleSignedWithRSA plays a peer that signs its bundle with an RSA
// identity: refused before any RSA verification.
func TestBundleSignedWithRSA(t *testing.T) {
	key, _, err := crypto.GenerateRSAKeyPair(2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	b := newPerson(t, 1).bundle.Bundle
	b.Peer = id
	env, err := record.Seal(&b, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := env.Marshal()
	if _, err := ParseBundle(raw); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("RSA-signed bundle: %v", err)
	}
}

func TestBundleRefusesBadFields(t *testing.T) {
	a := newPerson(t, 1)
	for name, mod := range map[string]func(*Bundle){
		"lifetime over 14 days":  func(b *Bundle) { b.Expires = b.Created.Add(MaxBundleLifetime + time.Millisecond) },
		"expires before created": func(b *Bundle) { b.Expires = b.Created.Add(-time.Second) },
		"other suite":            func(b *Bundle) { b.Suite = "parley-e2ee-0" },
		"short key":              func(b *Bundle) { b.PublicKey = b.PublicKey[:100] },
	} {
		t.Run(name, func(t *testing.T) {
			b := a.bundle.Bundle
			b.PublicKey = bytes.Clone(b.PublicKey)
			mod(&b)
			if _, err := SignBundle(a.key, b); err == nil {
				t.Fatal("signed")
			}
		})
	}
}

func TestBundleVerifyTime(t *testing.T) {
	a := newPerson(t, 1)
	for _, tc := range []struct {
		now time.Time
		ok  bool
	}{
		{t0, true},
		{a.bundle.Created.Add(-ClockSkew), true},
		{a.bundle.Created.Add(-ClockSkew - time.Second), false},
		{a.bundle.Expires.Add(-time.Millisecond), true},
		{a.bundle.Expires, false},
	} {
		err := a.bundle.Verify(tc.now)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrExpired)) {
			t.Errorf("Verify(%v) = %v, want ok=%v", tc.now, err, tc.ok)
		}
	}
}

func TestHandMadeBundleNeverVerifies(t *testing.T) {
	a := newPerson(t, 1)
	fake := &SignedBundle{Bundle: a.bundle.Bundle}
	if err := fake.Verify(t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("hand-made bundle: %v", err)
	}
	if _, err := NewBundleBook().Add(fake, t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("hand-made bundle in the book: %v", err)
	}
	if err := NewBundleBook().Restore(fake); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("hand-made bundle restored: %v", err)
	}
	if _, err := SealEpochSecret(fake, testEpoch(), fixedSecret(), t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("seal to a hand-made bundle: %v", err)
	}
	inv := &SignedInvite{Invite: Invite{Inviter: a.id, Room: "r", ID: make([]byte, InviteIDSize), MaxUses: 1, Created: t0, Expires: t0.Add(time.Hour)}}
	if err := inv.Verify(t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("hand-made invite: %v", err)
	}
}

func TestBundleTamperedBytes(t *testing.T) {
	raw := newPerson(t, 1).bundle.Raw()
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := ParseBundle(bad); err == nil {
			t.Fatalf("bundle with byte %d flipped accepted", i)
		}
	}
	if _, err := ParseBundle(append(bytes.Clone(raw), 0)); err == nil {
		t.Fatal("bundle with a trailing byte accepted")
	}
}

// TestBundleBookRollback plays a malicious DHT node serving an older
// bundle after a newer one, and a peer equivocating on one seq.
func TestBundleBookRollback(t *testing.T) {
	a := newPerson(t, 1)
	mk := func(seq uint64, created time.Time) *SignedBundle {
		t.Helper()
		kp, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		s, err := SignBundle(a.key, Bundle{Peer: a.id, PublicKey: kp.PublicKey(), Seq: seq, Created: created, Expires: created.Add(MaxBundleLifetime)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old, cur := mk(4, t0.Add(-48*time.Hour)), mk(5, t0.Add(-time.Hour))
	book := NewBundleBook()
	if _, err := book.Get(a.id, t0); !errors.Is(err, ErrNoBundle) {
		t.Fatalf("Get of an unknown peer: %v", err)
	}
	if ok, err := book.Add(cur, t0); !ok || err != nil {
		t.Fatalf("Add(5) = %v, %v", ok, err)
	}
	if _, err := book.Add(old, t0); !errors.Is(err, ErrRollback) {
		t.Fatalf("Add(4) after 5: %v", err)
	}
	if _, err := book.Add(mk(5, t0.Add(-time.Minute)), t0); !errors.Is(err, ErrRollback) {
		t.Fatalf("another bundle with seq 5: %v", err)
	}
	if ok, err := book.Add(cur, t0); ok || err != nil {
		t.Fatalf("Add of the same bundle again = %v, %v", ok, err)
	}
	if got, err := book.Get(a.id, t0); err != nil || got.Hash() != cur.Hash() {
		t.Fatalf("Get = %v, %v", got, err)
	}
	// Expired: refused by Add, reported by Get, yet still the floor.
	late := cur.Expires.Add(time.Second)
	if _, err := book.Add(mk(6, t0.Add(-MaxBundleLifetime-time.Hour)), t0); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired bundle: %v", err)
	}
	if _, err := book.Get(a.id, late); !errors.Is(err, ErrExpired) {
		t.Fatalf("Get after expiry: %v", err)
	}
	// Restored state keeps the floor across a restart.
	again := NewBundleBook()
	if err := again.Restore(cur); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Add(old, t0); !errors.Is(err, ErrRollback) {
		t.Fatalf("Add(4) after Restore(5): %v", err)
	}
}

func TestBundleValidator(t *testing.T) {
	a, m := newPerson(t, 1), newPerson(t, 9)
	v := BundleValidator{Now: func() time.Time { return t0 }}
	key := BundleKey(a.id)
	if err := v.Validate(key, a.bundle.Raw()); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(key, m.bundle.Raw()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("m's bundle under a's key: %v", err)
	}
	for _, bad := range []string{"/parley-keys/" + a.id.String() + "x", "/pk/" + a.id.String(), "/parley-keys/"} {
		if err := v.Validate(bad, a.bundle.Raw()); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	late := BundleValidator{Now: func() time.Time { return a.bundle.Expires }}
	if err := late.Validate(key, a.bundle.Raw()); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired record: %v", err)
	}
	newer, err := SignBundle(a.key, Bundle{Peer: a.id, PublicKey: a.kp.PublicKey(), Seq: 2, Created: t0, Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	i, err := v.Select(key, [][]byte{a.bundle.Raw(), []byte("junk"), newer.Raw(), m.bundle.Raw()})
	if err != nil || i != 2 {
		t.Fatalf("Select = %d, %v; want 2", i, err)
	}
	if _, err := v.Select(key, [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select of no valid record succeeded")
	}
}
