package ledger_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-chat/parley/ledger"
)

// FuzzDecode feeds arbitrary bytes to the event decoder. Properties: it
// never panics; DecodeBatch and DecodeOwned give the same answer; anything
// it accepts has exactly one encoding (its bytes), an ID that is the hash
// of those bytes, and fields within the limits.
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
		// Batch verification must agree with Decode, one by one and in a
		// batch big enough to be batch-verified.
		for _, n := range []int{1, 16} {
			raws := make([][]byte, n)
			for i := range raws {
				raws[i] = data
			}
			evs, errs := ledger.DecodeBatch(raws)
			if (errs[n-1] == nil) != (err == nil) || (err == nil && evs[n-1].ID() != ev.ID()) {
				t.Fatalf("DecodeBatch of %d copies: %v; Decode: %v", n, errs[n-1], err)
			}
		}
		// So must DecodeOwned (on its own copy: it keeps the buffer).
		if own, oerr := ledger.DecodeOwned(bytes.Clone(data)); (oerr == nil) != (err == nil) || (err == nil && own.ID() != ev.ID()) {
			t.Fatalf("DecodeOwned: %v; Decode: %v", oerr, err)
		}
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
