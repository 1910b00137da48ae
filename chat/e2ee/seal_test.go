package e2ee

import (
	"bytes"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSealEpochSecret(t *testing.T) {
	a, c := newPerson(t, 1), newPerson(t, 3)
	ep := testEpoch()
	secret := fixedSecret()
	sealed, err := SealEpochSecret(a.bundle, ep, secret, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != SealedSecretSize || SealedSecretSize != 1168 {
		t.Fatalf("sealed secret of %d bytes, SealedSecretSize %d; want 1168", len(sealed), SealedSecretSize)
	}
	got, err := OpenEpochSecret(a.kp, a.bundle, ep, sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %x, %v", got, err)
	}

	other := ep
	other.ID = bytes.Clone(ep.ID)
	other.ID[5] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"third party's key": func() ([]byte, error) { return OpenEpochSecret(c.kp, c.bundle, ep, sealed) },
		"other room": func() ([]byte, error) {
			return OpenEpochSecret(a.kp, a.bundle, Epoch{Room: "otherroom", ID: ep.ID}, sealed)
		},
		"other epoch": func() ([]byte, error) { return OpenEpochSecret(a.kp, a.bundle, other, sealed) },
		"other bundle of the same key": func() ([]byte, error) {
			b := a.bundle.Bundle
			b.Seq = 2
			nb, err := SignBundle(a.key, b)
			if err != nil {
				t.Fatal(err)
			}
			return OpenEpochSecret(a.kp, nb, ep, sealed)
		},
		"tampered": func() ([]byte, error) {
			bad := bytes.Clone(sealed)
			bad[len(bad)-20] ^= 1
			return OpenEpochSecret(a.kp, a.bundle, ep, bad)
		},
		"tampered encapsulation": func() ([]byte, error) {
			bad := bytes.Clone(sealed)
			bad[3] ^= 1
			return OpenEpochSecret(a.kp, a.bundle, ep, bad)
		},
	} {
		if got, err := open(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: Open = %x, %v; want ErrDecrypt", name, got, err)
		}
	}
	if _, err := OpenEpochSecret(c.kp, a.bundle, ep, sealed); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("c's key with a's bundle: %v", err)
	}
	if _, err := SealEpochSecret(a.bundle, ep, secret, a.bundle.Expires); !errors.Is(err, ErrExpired) {
		t.Errorf("seal to an expired bundle: %v", err)
	}
	a.kp.Erase()
	if _, err := OpenEpochSecret(a.kp, a.bundle, ep, sealed); !errors.Is(err, ErrErased) {
		t.Errorf("Open after Erase: %v", err)
	}
}

func TestNewEpochKeysClearsSecret(t *testing.T) {
	secret := NewEpochSecret()
	keys, err := NewEpochKeys(testEpoch(), secret, []peer.ID{newPerson(t, 1).id})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Erase()
	if !bytes.Equal(secret, make([]byte, SecretSize)) {
		t.Fatal("epoch secret not cleared after deriving the chains")
	}
}
