package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// Fingerprints summarise a set of event IDs so that two nodes can tell
// whether their sets (or a range of them) are equal without listing them.
// Each event contributes h = sha256(ID). Two accumulators are kept:
//
//   - v1, the XOR of every h. It is linear over GF(2): from ~130 chosen
//     events, Gaussian elimination finds two different sets with equal
//     count and XOR, so a hostile author can keep two honest nodes from
//     converging. Served only to peers that speak sync 1.0.0.
//   - v2, the sum of every h read as a little-endian 256-bit integer,
//     mod 2^256 (Negentropy's construction). The wire fingerprint is
//     sha256(sum ‖ uvarint(count))[0:16]. Equal sums need a generalised
//     birthday attack (Wagner's k-tree) instead of linear algebra; see
//     docs/PROTOCOL.md, "Fingerprint collisions".
//
// Both are incremental (add an event, combine ranges by prefix
// differences), so the room summary keeps them current on every write.

// accumulator is the pair of running accumulators over a set of IDs.
type accumulator struct {
	xor [32]byte  // v1: XOR of sha256(ID)
	sum [4]uint64 // v2: Σ sha256(ID) mod 2^256, little-endian limbs
}

// accumulate adds id to a.
func accumulate(a *accumulator, id ID) {
	h := IDHash(id)
	for i := range a.xor {
		a.xor[i] ^= h[i]
	}
	a.sum = addLimbs(a.sum, limbs(h))
}

// limbs reads h as a little-endian 256-bit integer.
func limbs(h [32]byte) [4]uint64 {
	return [4]uint64{
		binary.LittleEndian.Uint64(h[0:]), binary.LittleEndian.Uint64(h[8:]),
		binary.LittleEndian.Uint64(h[16:]), binary.LittleEndian.Uint64(h[24:]),
	}
}

func unlimbs(v [4]uint64) (b [32]byte) {
	for i, w := range v {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

func addLimbs(a, b [4]uint64) [4]uint64 {
	var c uint64
	for i := range a {
		a[i], c = bits.Add64(a[i], b[i], c)
	}
	return a
}

func subLimbs(a, b [4]uint64) [4]uint64 {
	var c uint64
	for i := range a {
		a[i], c = bits.Sub64(a[i], b[i], c)
	}
	return a
}

// Fingerprint summarises a set of events: how many, the XOR of sha256(ID)
// over them (Acc, fingerprint v1) and their sum mod 2^256 (Sum, the
// little-endian bytes of fingerprint v2's accumulator). The room summary
// keeps the same accumulators, so a whole room's fingerprint costs nothing
// to read.
type Fingerprint struct {
	Count uint64
	Acc   [32]byte
	Sum   [32]byte
}

// Add includes id in f.
func (f *Fingerprint) Add(id ID) {
	f.Count++
	a := accumulator{xor: f.Acc, sum: limbs(f.Sum)}
	accumulate(&a, id)
	f.Acc, f.Sum = a.xor, unlimbs(a.sum)
}

// V1 is the 16-byte fingerprint of sync 1.0.0: the first bytes of the XOR.
// It can be forged by linear algebra; use V2 wherever the peer speaks it.
func (f Fingerprint) V1() [16]byte { return [16]byte(f.Acc[:16]) }

// V2 is the 16-byte fingerprint of sync 2.0.0:
// sha256(Sum ‖ uvarint(Count))[0:16].
func (f Fingerprint) V2() [16]byte {
	b := make([]byte, 0, 32+binary.MaxVarintLen64)
	b = append(b, f.Sum[:]...)
	b = binary.AppendUvarint(b, f.Count)
	h := sha256.Sum256(b)
	return [16]byte(h[:16])
}

// IDHash is the value an event contributes to a fingerprint's accumulators.
func IDHash(id ID) [32]byte { return sha256.Sum256([]byte(id)) }

func (a accumulator) fingerprint(count uint64) Fingerprint {
	return Fingerprint{Count: count, Acc: a.xor, Sum: unlimbs(a.sum)}
}
