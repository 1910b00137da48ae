package e2ee

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPadSizes(t *testing.T) {
	for _, tc := range []struct{ body, want int }{
		{0, 256}, {250, 256}, {251, 512}, {500, 512}, {1000, 1024}, {MaxPadded - 8, MaxPadded},
	} {
		p, err := pad("msg", make([]byte, tc.body))
		if err != nil || len(p) != tc.want {
			t.Errorf("pad(%d bytes) = %d bytes, %v; want %d", tc.body, len(p), err, tc.want)
			continue
		}
		kind, body, err := unpad(p)
		if err != nil || kind != "msg" || len(body) != tc.body {
			t.Errorf("unpad(pad(%d)) = %q, %d, %v", tc.body, kind, len(body), err)
		}
	}
	if _, err := pad("msg", make([]byte, MaxPadded)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a body that cannot fit: %v", err)
	}
	if _, err := pad(strings.Repeat("k", MaxKindLen+1), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("a long kind: %v", err)
	}
}

func TestUnpadRefusesOtherForms(t *testing.T) {
	good, _ := pad("msg", []byte("hi"))
	nonzero := bytes.Clone(good)
	nonzero[len(nonzero)-1] = 1
	tooBig := make([]byte, 512)
	copy(tooBig, good)
	for name, p := range map[string][]byte{
		"non-zero padding":         nonzero,
		"more padding than needed": tooBig,
		"not a power of two":       good[:255],
		"body past the end":        append([]byte{3, 'm', 's', 'g', 0xff, 0x01}, make([]byte, 250)...),
	} {
		if _, _, err := unpad(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCiphertextEncoding(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, _ := chains(t, a, b)
	raw := sealN(t, send, a.id, 1)[0]
	if len(raw) != 1+1+34+1+NonceSize+256+16 {
		t.Fatalf("a short message's ciphertext is %d bytes", len(raw))
	}
	c, err := ParseCiphertext(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Encode(), raw) {
		t.Fatal("re-encoding changed the bytes")
	}
	for name, bad := range map[string][]byte{
		"version 2":         append([]byte{2}, raw[1:]...),
		"truncated":         raw[:len(raw)-1],
		"extra byte":        append(bytes.Clone(raw), 0),
		"empty":             nil,
		"non-minimal index": append(append(bytes.Clone(raw[:36]), 0x80, 0x00), raw[37:]...),
		"oversized":         make([]byte, MaxCiphertextSize+1),
	} {
		if _, err := ParseCiphertext(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
