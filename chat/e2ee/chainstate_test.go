package e2ee

import (
	"bytes"
	"errors"
	"testing"
)

// TestChainStateRestart restarts a sender and a receiver from their
// marshalled states: the sender goes on at the next index (no reuse), and
// the receiver still opens skipped keys and still reports replays.
func TestChainStateRestart(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	cts := sealN(t, send, a.id, 5)
	for _, i := range []int{0, 3} {
		if _, err := recv.Open(a.id, cts[i]); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := send.Chain(a.id).MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := recv.Chain(a.id).MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	send.Erase()
	recv.Erase()

	s2, err := RestoreChain(testEpoch(), a.id, ss)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := RestoreChain(testEpoch(), a.id, rs)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r2.MarshalState()
	if !bytes.Equal(again, rs) {
		t.Fatal("restored state marshals differently")
	}
	if s2.Next() != 5 || r2.Next() != 4 || r2.Skipped() != 2 {
		t.Fatalf("restored next %d and %d, skipped %d; want 5, 4, 2", s2.Next(), r2.Next(), r2.Skipped())
	}
	open := func(raw []byte) (Message, error) {
		ct, err := ParseCiphertext(raw)
		if err != nil {
			t.Fatal(err)
		}
		return r2.Open(ct)
	}
	if _, err := open(cts[3]); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay after restart: %v", err)
	}
	for _, i := range []int{1, 2, 4} {
		if _, err := open(cts[i]); err != nil {
			t.Fatalf("index %d after restart: %v", i, err)
		}
	}
	raw, err := s2.Seal("msg", []byte("after restart"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := open(raw); err != nil || m.Index != 5 {
		t.Fatalf("first message after the sender's restart: %+v, %v", m, err)
	}
}

func TestRestoreChainRefusesBadState(t *testing.T) {
	a := newPerson(t, 1)
	c, _ := NewChain(testEpoch(), a.id, fixedSecret())
	good, _ := c.MarshalState()
	for name, st := range map[string][]byte{
		"empty":      nil,
		"version 2":  append([]byte{2}, good[1:]...),
		"truncated":  good[:20],
		"trailing":   append(bytes.Clone(good), 0),
		"floor>next": append(append([]byte{1}, fixedSecret()...), 1, 2, 0),
		"too many":   append(append([]byte{1}, fixedSecret()...), 0xff, 0x7f, 0, 0xd1, 0x0f),
		"skipped >= next": append(append(append([]byte{1}, fixedSecret()...), 1, 0, 1, 1),
			fixedSecret()...),
		"unsorted": append(append(append(append(append([]byte{1}, fixedSecret()...), 5, 0, 2, 3),
			fixedSecret()...), 2), fixedSecret()...),
	} {
		if _, err := RestoreChain(testEpoch(), a.id, st); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzRestoreChain(f *testing.F) {
	a := newPerson(f, 1)
	c, _ := NewChain(testEpoch(), a.id, fixedSecret())
	st, _ := c.MarshalState()
	f.Add(st)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := RestoreChain(testEpoch(), a.id, data)
		if err != nil {
			return
		}
		again, err := c.MarshalState()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatal("a restored state marshals differently")
		}
		if c.Skipped() > MaxSkip {
			t.Fatalf("%d skipped keys restored", c.Skipped())
		}
	})
}
