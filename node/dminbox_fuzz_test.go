package node

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
)

// FuzzParseInboxAnswer feeds a holder's answer, which any peer that
// advertises an inbox can write, to the recipient's parser: it never
// panics, returns at most chat.MaxInboxAnswer messages of at most
// e2ee.MaxDMInitSize bytes, each of them bytes of the answer.
// Seeds: testdata/fuzz/FuzzParseInboxAnswer.
func FuzzParseInboxAnswer(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add(encodeInboxAnswer([][]byte{[]byte("first message")}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseInboxAnswer(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(out) > chat.MaxInboxAnswer {
			t.Fatalf("%d messages accepted", len(out))
		}
		for _, m := range out {
			if len(m) > e2ee.MaxDMInitSize || !bytes.Contains(b, m) {
				t.Fatalf("a message of %d bytes accepted that the answer does not hold", len(m))
			}
		}
	})
}

// encodeInboxAnswer is the holder's side of the wire format, with the
// status byte the stream guard writes after it.
func encodeInboxAnswer(ms [][]byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ms)))
	for _, m := range ms {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return append(b, 0)
}
