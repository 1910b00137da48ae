package chat

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"

	"github.com/parley-chat/parley/ledger"
)

// An ended epoch keeps its chains EpochKeyRetention after this node saw
// it succeeded: a late message 29 days on still decrypts; 31 days on the
// chain states are gone from the datastore and a late message is stored
// but shown nowhere, while what was decrypted before stays readable.
func TestPrivateRoomErasesEndedEpochChains(t *testing.T) {
	ctx := context.Background()
	a, b, room := privatePair(t)
	var now atomic.Int64
	start := time.Now()
	now.Store(start.UnixNano())
	b.clock = func() time.Time { return time.Unix(0, now.Load()) }
	b.s.Close()
	b.open(t)
	b.s.Join(ctx, room)

	// A seals two messages in the first epoch, held back from B: late
	// arrivals, valid because their past is in that epoch.
	mr := a.s.modRoom(room)
	old, _, _ := mr.currentEpoch()
	before := head(t, a.modPeer, room)
	var late []*ledger.Event
	for _, text := range []string{"late-29", "late-31"} {
		ct, err := a.s.sealOwn(ctx, mr, room, innerMsg, msgBodyOf(text))
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, sign(t, a.key, room, KindEnc, ct, before))
	}
	if err := a.s.rekey(ctx, mr, room, ""); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room)
	if cur, _, _ := b.s.modRoom(room).currentEpoch(); cur == old {
		t.Fatal("B did not move to the new epoch")
	}
	chains := func(epoch ledger.ID) int {
		res, err := b.s.store.Query(ctx, query.Query{Prefix: chainPrefix(room, epoch).String(), KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := res.Rest()
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if chains(old) == 0 {
		t.Fatal("B holds no chain of the first epoch before any sweep")
	}
	b.s.sweepEpochs(ctx) // notes the first epoch ended now

	now.Store(start.Add(29 * 24 * time.Hour).UnixNano())
	b.s.sweepEpochs(ctx)
	if chains(old) == 0 {
		t.Fatal("chains erased 29 days after the epoch ended")
	}
	if !b.deliver(t, late[0]) {
		t.Fatal("B refused a late message 29 days on")
	}
	if got := texts(t, b, room); !slices.Contains(got, "late-29") {
		t.Fatalf("B shows %q, want late-29", got)
	}

	now.Store(start.Add(31 * 24 * time.Hour).UnixNano())
	b.s.sweepEpochs(ctx)
	if n := chains(old); n != 0 {
		t.Fatalf("%d chain states of the ended epoch left 31 days on", n)
	}
	cur, _, _ := b.s.modRoom(room).currentEpoch()
	if chains(cur) == 0 {
		t.Fatal("the current epoch's chains were erased too")
	}
	if !b.deliver(t, late[1]) {
		t.Fatal("B refused a valid late message of an erased epoch")
	}
	got := texts(t, b, room)
	if slices.Contains(got, "late-31") || !slices.Contains(got, "late-29") {
		t.Fatalf("B shows %q: want late-29 kept and late-31 not shown", got)
	}
	// A restart neither restores the chains nor shows the message.
	b.s.Close()
	b.open(t)
	b.s.Join(ctx, room)
	if n := chains(old); n != 0 || slices.Contains(texts(t, b, room), "late-31") {
		t.Fatalf("after restart: %d chain states, texts %q", n, texts(t, b, room))
	}
}
