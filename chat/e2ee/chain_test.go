package e2ee

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// chains returns the epoch keys of a sender and of a receiver, derived
// independently from one secret, as two members would.
func chains(t *testing.T, members ...*person) (send, recv *EpochKeys) {
	t.Helper()
	ids := make([]peer.ID, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	var err error
	if send, err = NewEpochKeys(testEpoch(), fixedSecret(), ids); err != nil {
		t.Fatal(err)
	}
	if recv, err = NewEpochKeys(testEpoch(), fixedSecret(), ids); err != nil {
		t.Fatal(err)
	}
	return send, recv
}

func sealN(t *testing.T, k *EpochKeys, self peer.ID, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		var err error
		if out[i], err = k.Seal(self, "msg", fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestChainInOrderAndOutOfOrder(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	cts := sealN(t, send, a.id, 6)
	for _, i := range []int{0, 3, 1, 5, 2, 4} {
		m, err := recv.Open(a.id, cts[i])
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if m.Index != uint64(i) || m.Kind != "msg" || string(m.Body) != fmt.Sprintf("message %d", i) {
			t.Fatalf("open %d = %+v", i, m)
		}
	}
	if n := recv.Chain(a.id).Skipped(); n != 0 {
		t.Fatalf("%d skipped keys left after opening all", n)
	}
}

func TestChainReplay(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	cts := sealN(t, send, a.id, 3)
	for _, i := range []int{2, 0} {
		if _, err := recv.Open(a.id, cts[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 2} {
		if _, err := recv.Open(a.id, cts[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("second open of %d: %v; want ErrReplay", i, err)
		}
	}
	if _, err := recv.Open(a.id, cts[1]); err != nil {
		t.Fatalf("skipped index 1 after the replays: %v", err)
	}
}

func TestChainSkipBound(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	cts := sealN(t, send, a.id, 2*MaxSkip+3)
	if _, err := recv.Open(a.id, cts[MaxSkip+1]); !errors.Is(err, ErrTooManySkipped) {
		t.Fatalf("index %d on a fresh chain: %v; want ErrTooManySkipped", MaxSkip+1, err)
	}
	if recv.Chain(a.id).Next() != 0 {
		t.Fatal("a refused index advanced the chain")
	}
	if _, err := recv.Open(a.id, cts[MaxSkip]); err != nil {
		t.Fatalf("index %d (exactly MaxSkip skipped): %v", MaxSkip, err)
	}
	if n := recv.Chain(a.id).Skipped(); n != MaxSkip {
		t.Fatalf("%d skipped keys, want %d", n, MaxSkip)
	}
	// Another full skip: the oldest keys are evicted, never more than
	// MaxSkip are kept, and an evicted index cannot be opened.
	if _, err := recv.Open(a.id, cts[2*MaxSkip+1]); err != nil {
		t.Fatal(err)
	}
	if n := recv.Chain(a.id).Skipped(); n != MaxSkip {
		t.Fatalf("%d skipped keys after a second skip, want %d", n, MaxSkip)
	}
	if _, err := recv.Open(a.id, cts[5]); !errors.Is(err, ErrKeyGone) {
		t.Fatalf("evicted index 5: %v; want ErrKeyGone", err)
	}
	if _, err := recv.Open(a.id, cts[2*MaxSkip]); err != nil {
		t.Fatalf("a kept skipped index: %v", err)
	}
}

// TestChainResignedCiphertext plays a member m who takes a's ciphertext
// and publishes it in an event signed by itself: receivers choose the
// key from the signing author, so it does not open; and a's own chain
// would not open it under m's name either (the AAD names the author).
func TestChainResignedCiphertext(t *testing.T) {
	a, b, m := newPerson(t, 1), newPerson(t, 2), newPerson(t, 9)
	send, recv := chains(t, a, b, m)
	ct := sealN(t, send, a.id, 1)[0]
	if _, err := recv.Open(m.id, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a's ciphertext as m's: %v; want ErrDecrypt", err)
	}
	parsed, _ := ParseCiphertext(ct)
	mk, _ := step(mustChainKey(t, a.id))
	if _, _, err := decryptMessage(mk, testEpoch(), m.id, parsed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a's key under m's AAD: %v; want ErrDecrypt", err)
	}
	if _, err := recv.Open(b.id, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a's ciphertext as b's: %v", err)
	}
	if _, err := recv.Open(newPerson(t, 4).id, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a's ciphertext as a non-member's: %v", err)
	}
	// None of this spent a's key.
	if msg, err := recv.Open(a.id, ct); err != nil || string(msg.Body) != "message 0" {
		t.Fatalf("a's ciphertext as a's: %+v, %v", msg, err)
	}
}

func mustChainKey(t *testing.T, member peer.ID) []byte {
	t.Helper()
	ck, err := ChainKey(fixedSecret(), testEpoch(), member)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func TestChainTamperedCiphertext(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	ct := sealN(t, send, a.id, 1)[0]
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x80
		if m, err := recv.Open(a.id, bad); err == nil {
			t.Fatalf("byte %d flipped: opened %+v", i, m)
		}
	}
	if recv.Chain(a.id).Next() != 0 {
		t.Fatal("tampered ciphertexts advanced the chain")
	}
	if _, err := recv.Open(a.id, ct); err != nil {
		t.Fatalf("the genuine ciphertext after the tampered ones: %v", err)
	}
}

func TestChainWrongEpochAndErase(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	ct := sealN(t, send, a.id, 1)[0]
	ep := testEpoch()
	ep.ID[3] ^= 1
	other, err := NewEpochKeys(ep, fixedSecret(), []peer.ID{a.id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(a.id, ct); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("another epoch's ciphertext: %v", err)
	}
	c := recv.Chain(a.id)
	recv.Erase()
	if _, err := recv.Open(a.id, ct); !errors.Is(err, ErrErased) {
		t.Fatalf("after Erase: %v", err)
	}
	parsed, _ := ParseCiphertext(ct)
	if _, err := c.Open(parsed); !errors.Is(err, ErrErased) {
		t.Fatalf("after Erase: %v", err)
	}
	c = send.Chain(a.id)
	send.Erase()
	if _, err := c.Seal("msg", nil); !errors.Is(err, ErrErased) {
		t.Fatalf("Seal after Erase: %v", err)
	}
}

// TestChainConcurrent opens one sender's messages from many goroutines in
// any order: every message opens exactly once, whatever interleaving.
func TestChainConcurrent(t *testing.T) {
	a, b := newPerson(t, 1), newPerson(t, 2)
	send, recv := chains(t, a, b)
	cts := sealN(t, send, a.id, 200)
	opened := make(chan uint64, 2*len(cts))
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range cts {
				// Each worker walks the list from its own offset, so every
				// ciphertext is tried four times.
				j := (i + w*50) % len(cts)
				if m, err := recv.Open(a.id, cts[j]); err == nil {
					opened <- m.Index
				} else if !errors.Is(err, ErrReplay) {
					t.Errorf("open %d: %v", j, err)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(opened)
	seen := make(map[uint64]bool)
	for i := range opened {
		if seen[i] {
			t.Fatalf("index %d opened twice", i)
		}
		seen[i] = true
	}
	if len(seen) != len(cts) {
		t.Fatalf("%d of %d messages opened", len(seen), len(cts))
	}
}

// TestChainOrderBounded plays a sender that skips ahead and then fills
// in all but one of each gap, round after round: the bookkeeping of
// skipped keys stays bounded, not just the keys.
func TestChainOrderBounded(t *testing.T) {
	a := newPerson(t, 1)
	ck := mustChainKey(t, a.id)
	send, _ := NewChain(testEpoch(), a.id, ck)
	recv, _ := NewChain(testEpoch(), a.id, ck)
	const gap = 100
	for round := range 60 {
		cts := make([]*Ciphertext, gap+1)
		for i := range cts {
			raw, err := send.Seal("msg", nil)
			if err != nil {
				t.Fatal(err)
			}
			cts[i], _ = ParseCiphertext(raw)
		}
		if _, err := recv.Open(cts[gap]); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, ct := range cts[1:gap] {
			if _, err := recv.Open(ct); err != nil {
				t.Fatalf("round %d, index %d: %v", round, ct.Index, err)
			}
		}
		if n := len(recv.order); n > 2*MaxSkip {
			t.Fatalf("round %d: %d entries in order", round, n)
		}
	}
	if n := recv.Skipped(); n != 60 {
		t.Fatalf("%d skipped keys, want one per round", n)
	}
}
