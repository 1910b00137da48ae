package keyx

import (
	"bytes"
	"testing"
)

// FuzzDecodeReply: decoding never panics, never returns more than
// MaxSize bytes, and whatever decodes re-encodes to the same bytes (one
// encoding per reply).
func FuzzDecodeReply(f *testing.F) {
	f.Add(encodeReply(nil))
	f.Add(encodeReply([]byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := decodeReply(b, testMaxSize)
		if err != nil {
			return
		}
		if len(raw) > testMaxSize {
			t.Fatalf("decoded %d bytes", len(raw))
		}
		if enc := encodeReply(raw); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n%x\n%x", b, enc)
		}
	})
}
