package ledger

import (
	"bytes"
	"testing"
)

// FuzzUnmarshalMeta: a room summary read from disk never panics the
// decoder; a version 2 record it accepts encodes back to the same bytes,
// and a version 1 record keeps its count, clock and XOR.
func FuzzUnmarshalMeta(f *testing.F) {
	var m meta
	m.count, m.maxLamport = 3, 7
	m.acc.xor[0], m.acc.sum[0] = 1, 2
	v2 := m.marshal()
	f.Add(v2)
	f.Add(v2[1:49]) // version 1
	f.Add([]byte{})
	f.Add([]byte{metaVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, legacy, err := unmarshalMeta(b)
		if err != nil {
			return
		}
		if legacy {
			if len(b) != metaV1Len || !bytes.Equal(m.marshal()[1:49], b) {
				t.Fatalf("version 1 record %x decoded to %+v", b, m)
			}
			return
		}
		if got := m.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("version 2 record %x re-encodes as %x", b, got)
		}
	})
}
