package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

// spamRootCount is the attack of issue 18: a hostile sync responder pushes
// this many valid root events (Lamport 1, no parents) into a room.
const spamRootCount = 100_000

var spamOnce = sync.OnceValue(func() []*ledger.Event { return makeSpamRoots(spamRootCount) })

// makeSpamRoots signs n roots, 100 per author key, on all cores: the
// attacker pre-signs, so only storing them is measured.
func makeSpamRoots(n int) []*ledger.Event {
	evs := make([]*ledger.Event, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var key crypto.PrivKey
			for i := w; i < n; i += workers {
				if key == nil || i%100 < workers {
					key, _, _ = crypto.GenerateEd25519Key(nil)
				}
				ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg,
					Body: fmt.Appendf(nil, `{"text":"spam %d"}`, i), Time: time.Unix(1700000000, 0), Lamport: 1})
				if err != nil {
					panic(err)
				}
				evs[i] = ev
			}
		})
	}
	wg.Wait()
	return evs
}

// addSpam stores evs the way sync does: Add in frames.
func addSpam(t testing.TB, l *ledger.Ledger, evs []*ledger.Event) {
	t.Helper()
	for i := 0; i < len(evs); i += 1024 {
		chunk := evs[i:min(i+1024, len(evs))]
		if added, rej, err := l.Add(context.Background(), room, chunk...); err != nil || len(rej) > 0 || len(added) != len(chunk) {
			t.Fatalf("add spam: %d added, %v, %v", len(added), rej, err)
		}
	}
}

// TestSpamRootsAreNotParents: after 100,000 spam roots arrive by sync, our
// messages and an honest peer's keep their own ancestry: no spam root is
// ever a parent, before or after the ledger is reopened, and the spam
// stays stored. (TestParentRule verifies a ledger with spam roots.)
func TestSpamRootsAreNotParents(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 100,000 events")
	}
	ctx := context.Background()
	spam := spamOnce()
	isSpam := make(map[ledger.ID]bool, len(spam))
	for _, ev := range spam {
		isSpam[ev.ID()] = true
	}
	dir := t.TempDir()
	pds, err := store.OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, pds, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	me, peerKey := newKey(t), newKey(t)
	first, err := l.Append(ctx, me, room, ledger.KindJoin, []byte(`{}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// An honest peer wrote on top of our join.
	peerEv, _ := ledger.Sign(peerKey, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte(`{"text":"hi"}`),
		Time: time.Now(), Lamport: 2, Parents: []ledger.ID{first.ID()}})
	if _, rej, err := l.Add(ctx, room, peerEv); err != nil || len(rej) > 0 {
		t.Fatal(rej, err)
	}
	start := time.Now()
	addSpam(t, l, spam)
	t.Logf("stored %d spam roots in %v", len(spam), time.Since(start))

	check := func(phase string, l *ledger.Ledger, want []ledger.ID) *ledger.Event {
		t.Helper()
		ev, err := l.Append(ctx, me, room, ledger.KindMsg, []byte(`{"text":"honest"}`), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ev.Parents {
			if isSpam[p] {
				t.Fatalf("%s: honest message took spam root %s as a parent", phase, p)
			}
		}
		if want != nil && !slices.Equal(ev.Parents, want) {
			t.Fatalf("%s: parents %v, want %v", phase, ev.Parents, want)
		}
		return ev
	}
	m1 := check("after spam", l, []ledger.ID{peerEv.ID()})
	m2 := check("next", l, []ledger.ID{m1.ID()})
	if m2.Lamport != 4 {
		t.Fatalf("lamport %d, want 4", m2.Lamport)
	}
	l.Close()
	pds.Close()

	pds, err = store.OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer pds.Close()
	l, err = ledger.Open(ctx, pds, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check("after reopening", l, []ledger.ID{m2.ID()})
	heads, _ := l.Heads(ctx, room)
	if len(heads) != len(spam)+1 {
		t.Fatalf("%d heads, want the %d spam roots and our message", len(heads), len(spam)+1)
	}
	if n, _ := l.Count(ctx, room); n != uint64(len(spam))+5 {
		t.Fatalf("count %d", n)
	}
}

// BenchmarkAppendAfterSpamRoots is the send latency of issue 18's spam
// attack: one writer appending (an fsync each, Pebble as the node opens
// it) to a room without spam, after 100,000 spam roots were stored by
// Add, and after reopening that ledger. p50-µs is the median Append.
func BenchmarkAppendAfterSpamRoots(b *testing.B) {
	for _, c := range []struct {
		name   string
		spam   bool
		reopen bool
	}{{"spam=0", false, false}, {"spam=100000", true, false}, {"spam=100000/reopened", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			pds, err := store.OpenPebble(dir)
			if err != nil {
				b.Fatal(err)
			}
			l, err := ledger.Open(ctx, pds, ledger.Config{})
			if err != nil {
				b.Fatal(err)
			}
			key := newKey(b)
			if _, err := l.Append(ctx, key, room, ledger.KindJoin, []byte(`{}`), time.Now()); err != nil {
				b.Fatal(err)
			}
			if c.spam {
				addSpam(b, l, spamOnce())
			}
			var first time.Duration
			if c.reopen {
				l.Close()
				pds.Close()
				if pds, err = store.OpenPebble(dir); err != nil {
					b.Fatal(err)
				}
				if l, err = ledger.Open(ctx, pds, ledger.Config{}); err != nil {
					b.Fatal(err)
				}
				// The first Append loads the room: timed apart.
				start := time.Now()
				if _, err := l.Append(ctx, key, room, ledger.KindMsg, []byte(`{"text":"x"}`), time.Now()); err != nil {
					b.Fatal(err)
				}
				first = time.Since(start)
			}
			b.Cleanup(func() { l.Close(); pds.Close() })
			var lat []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := l.Append(ctx, key, room, ledger.KindMsg, []byte(`{"text":"x"}`), time.Now()); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			if c.reopen {
				b.ReportMetric(float64(first.Microseconds()), "first-µs")
			}
		})
	}
}

// TestParentRule: a stranger's root is never a parent, ours is; another
// author's event with parents is; heads stored before their keys held a
// clock and author load as well; the ledger verifies.
func TestParentRule(t *testing.T) {
	ctx := context.Background()
	l, store := newLedger(t)
	me, peerKey := newKey(t), newKey(t)
	sign := func(key crypto.PrivKey, lam uint64, parents ...ledger.ID) *ledger.Event {
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte(`{"text":"x"}`), Time: time.Now(), Lamport: lam, Parents: parents})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	add := func(evs ...*ledger.Event) {
		t.Helper()
		if _, rej, err := l.Add(ctx, room, evs...); err != nil || len(rej) > 0 {
			t.Fatal(rej, err)
		}
	}
	send := func(want ...ledger.ID) *ledger.Event {
		t.Helper()
		ev, err := l.Append(ctx, me, room, ledger.KindMsg, []byte(`{"text":"me"}`), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		if !slices.Equal(ev.Parents, want) {
			t.Fatalf("parents %v, want %v", ev.Parents, want)
		}
		return ev
	}
	strangerRoot := sign(peerKey, 1)
	add(strangerRoot, makeSpamRoots(50)[0])
	mine := send() // only strangers' roots: ours is a root too
	if mine.Lamport != 1 {
		t.Fatalf("lamport %d", mine.Lamport)
	}
	// The stranger writes on top of its root: now that event counts.
	reply := sign(peerKey, 2, strangerRoot.ID())
	add(reply)
	next := send(mine.ID(), reply.ID())
	if next.Lamport != 3 {
		t.Fatalf("lamport %d", next.Lamport)
	}
	// Far below the newest head (more than 64 levels), another author's
	// branch is left to its author's node to merge.
	prev, last := next, next
	for range 70 {
		prev, last = last, send(last.ID())
	}
	add(sign(peerKey, 3, reply.ID()))
	recent := sign(peerKey, last.Lamport, prev.ID())
	add(recent)
	last = send(last.ID(), recent.ID())
	l.Close()

	// Heads written with an empty value, as before they held clock and
	// author: a reopened ledger looks them up.
	res, err := store.Query(ctx, query.Query{Prefix: "/r/" + room + "/h", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		if err := store.Put(ctx, ds.NewKey(e.Key), nil); err != nil {
			t.Fatal(err)
		}
	}
	if l, err = ledger.Open(ctx, store, ledger.Config{}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send(last.ID())
	if rep, err := l.Verify(ctx, room); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// TestHasAuthor: an author counts once an event of theirs is accepted,
// also after reopening the ledger.
func TestHasAuthor(t *testing.T) {
	ctx := context.Background()
	l, store := newLedger(t)
	stranger := makeSpamRoots(1)[0]
	if ok, err := l.HasAuthor(ctx, room, stranger.Author); err != nil || ok {
		t.Fatalf("HasAuthor before any event: %v, %v", ok, err)
	}
	if _, _, err := l.Add(ctx, room, stranger); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.HasAuthor(ctx, room, stranger.Author); !ok {
		t.Fatal("author of a stored event not known")
	}
	l.Close()
	l, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, _ := l.HasAuthor(ctx, room, stranger.Author); !ok {
		t.Fatal("author not known after reopening")
	}
	if ok, _ := l.HasAuthor(ctx, "otherroom", stranger.Author); ok {
		t.Fatal("author known in a room they never wrote in")
	}
}
