package ledgersync

import (
	"bytes"
	"testing"
)

// FuzzDecodeFrame: decoding never panics, and whatever decodes re-encodes
// to bytes that decode to the same encoding again (no two readings of one
// frame).
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{frameEnd})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		enc := appendFrame(nil, fr)
		// Strip the length prefix and decode again.
		n := 0
		for enc[n]&0x80 != 0 {
			n++
		}
		fr2, err := decodeFrame(enc[n+1:])
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if enc2 := appendFrame(nil, fr2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc, enc2)
		}
	})
}
