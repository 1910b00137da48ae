package e2ee

import (
	"bytes"
	"testing"

	"github.com/libp2p/go-libp2p/core/record"
)

// The decoders take bytes from any peer. Each fuzz target checks that
// decoding never panics, and that whatever decodes has exactly one
// encoding: re-encoding gives the input back. Seeds: testdata/fuzz (the
// vectors' encodings) and the f.Add calls.

func FuzzParseBundle(f *testing.F) {
	b := newPerson(f, 1).bundle
	payload, _ := b.MarshalRecord()
	f.Add(b.Raw())
	f.Add(payload)
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := ParseBundle(data); err == nil {
			env, err := record.UnmarshalEnvelope(data)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := s.MarshalRecord()
			if !bytes.Equal(again, env.RawPayload) {
				t.Fatal("a parsed bundle re-encodes differently")
			}
		}
		// The payload decoder, which random envelopes never reach past
		// the signature check.
		var p Bundle
		if p.UnmarshalRecord(data) == nil {
			if again, err := p.MarshalRecord(); err != nil || !bytes.Equal(again, data) {
				t.Fatalf("bundle payload re-encodes as %x, %v", again, err)
			}
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	a := newPerson(f, 1)
	inv, _, err := NewInvite(a.key, Invite{Inviter: a.id, Room: "privroom1", Created: t0, Expires: t0.Add(3600e9)})
	if err != nil {
		f.Fatal(err)
	}
	payload, _ := inv.MarshalRecord()
	f.Add(inv.Raw())
	f.Add(payload)
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := ParseInvite(data); err == nil {
			env, _ := record.UnmarshalEnvelope(data)
			again, _ := s.MarshalRecord()
			if !bytes.Equal(again, env.RawPayload) {
				t.Fatal("a parsed invite re-encodes differently")
			}
		}
		var p Invite
		if p.UnmarshalRecord(data) == nil {
			if again, err := p.MarshalRecord(); err != nil || !bytes.Equal(again, data) {
				t.Fatalf("invite payload re-encodes as %x, %v", again, err)
			}
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte{tokenVersion, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if tok, err := ParseToken(data); err == nil && !bytes.Equal(tok.Encode(), data) {
			t.Fatal("a parsed token re-encodes differently")
		}
	})
}

func FuzzParseCiphertext(f *testing.F) {
	f.Add(append([]byte{ciphertextVersion, 1, 7, 0}, make([]byte, NonceSize+MinPadded+tagSize)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCiphertext(data)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Encode(), data) {
			t.Fatal("a parsed ciphertext re-encodes differently")
		}
		if len(c.Epoch) == 0 || len(c.Epoch) > MaxEpochIDLen || len(c.Nonce) != NonceSize || len(c.Sealed) > MaxPadded+tagSize {
			t.Fatalf("out-of-bounds fields: epoch %d, nonce %d, sealed %d", len(c.Epoch), len(c.Nonce), len(c.Sealed))
		}
	})
}

func FuzzParseDMInit(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := ParseDMInit(data); err == nil && !bytes.Equal(d.Encode(), data) {
			t.Fatal("a parsed dm-init re-encodes differently")
		}
	})
}

func FuzzUnpad(f *testing.F) {
	f.Add(make([]byte, MinPadded))
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, body, err := unpad(data)
		if err != nil {
			return
		}
		again, err := pad(kind, body)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("unpadded %q, %d bytes re-pads differently: %v", kind, len(body), err)
		}
	})
}
