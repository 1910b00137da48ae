package e2ee

import (
	"bytes"
	"errors"
	"testing"
)

func TestDMInitRoundTrip(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	d, err := SealDMInit(a.key, b.bundle, testEpoch(), fixedSecret(), t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDMInit(d.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), d.Encode()) {
		t.Fatal("round trip changed the bytes")
	}
	secret, err := OpenDMInit(b.kp, b.bundle, got)
	if err != nil || !bytes.Equal(secret, fixedSecret()) {
		t.Fatalf("OpenDMInit = %x, %v", secret, err)
	}
}

// TestDMInitCannotBeForwarded plays b, the recipient, forwarding a's first
// message to c as if a had written to c, and every single-field change.
func TestDMInitCannotBeForwarded(t *testing.T) {
	a, b, c := newPerson(t, 1), newPerson(t, 2), newPerson(t, 3)
	d, err := SealDMInit(a.key, b.bundle, testEpoch(), fixedSecret(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDMInit(c.kp, c.bundle, d); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("c opens b's first message: %v", err)
	}
	// b rewrites the header to name c: a's signature no longer covers it.
	fwd := *d
	fwd.Recipient, fwd.BundleHash = c.id, c.bundle.Hash()
	if _, err := OpenDMInit(c.kp, c.bundle, &fwd); !errors.Is(err, ErrBadSignature) {
		t.Errorf("header rewritten to c: %v", err)
	}
	// b knows the secret and re-seals it to c under a statement naming c,
	// keeping a's signature: still refused.
	fwd.Sealed, err = sealTo(c.bundle.PublicKey, fwd.statement(), fixedSecret())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDMInit(c.kp, c.bundle, &fwd); !errors.Is(err, ErrBadSignature) {
		t.Errorf("re-sealed to c: %v", err)
	}
	// Ciphertext sealed to b, opened with c's key under b's statement.
	if _, err := c.kp.open(d.statement(), d.Sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("c's key on b's seal: %v", err)
	}

	other := testEpoch()
	other.ID[7] ^= 1
	for name, mod := range map[string]func(*DMInit){
		"sender":      func(x *DMInit) { x.Sender = c.id },
		"bundle hash": func(x *DMInit) { x.BundleHash[0] ^= 1 },
		"room":        func(x *DMInit) { x.Epoch.Room = "otherroom" },
		"epoch":       func(x *DMInit) { x.Epoch.ID = other.ID },
		"signature":   func(x *DMInit) { x.Signature = bytes.Clone(x.Signature); x.Signature[0] ^= 1 },
		"sealed":      func(x *DMInit) { x.Sealed = bytes.Clone(x.Sealed); x.Sealed[40] ^= 1 },
	} {
		x := *d
		mod(&x)
		if _, err := OpenDMInit(b.kp, b.bundle, &x); err == nil {
			t.Errorf("changed %s: opened", name)
		}
	}
	// The signature also fails on its own when only the seal is redone.
	x := *d
	x.Epoch = other
	x.Sealed, _ = sealTo(b.bundle.PublicKey, x.statement(), fixedSecret())
	if _, err := OpenDMInit(b.kp, b.bundle, &x); !errors.Is(err, ErrBadSignature) {
		t.Errorf("epoch changed and re-sealed: %v", err)
	}
}
