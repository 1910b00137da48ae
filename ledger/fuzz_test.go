package ledger_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-chat/parley/ledger"
)

// FuzzDecode feeds arbitrary bytes to the event decoder. Properties: it
// never panics; anything it accepts has exactly one encoding (its bytes),
// an ID that is the hash of those bytes, and fields within the limits.
func FuzzDecode(f *testing.F) {
	key := newKey(f)
	for _, d := range []ledger.Draft{
		{Room: "r", Kind: "msg", Body: []byte(`{"text":"hi"}`), Time: time.UnixMilli(1), Lamport: 1},
		{Room: "p0123456789abcdefghijklmnopqrstuv", Kind: "join", Body: nil, Time: time.UnixMilli(-5), Lamport: 3,
			Parents: []ledger.ID{ledger.ComputeID([]byte("a")), ledger.ComputeID([]byte("b"))}},
	} {
		ev, err := ledger.Sign(key, d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Raw())
	}
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ledger.Decode(data)
		if err != nil {
			return
		}
		if !bytes.Equal(ev.Raw(), data) || ev.ID() != ledger.ComputeID(data) {
			t.Fatalf("accepted event does not keep its bytes and ID")
		}
		if len(ev.Body) > ledger.MaxBodySize || len(ev.Parents) > ledger.MaxParents || ev.Lamport == 0 {
			t.Fatalf("accepted event breaks limits")
		}
		if ledger.ValidRoomID(ev.Room) != nil {
			t.Fatalf("accepted event has bad room %q", ev.Room)
		}
	})
}
