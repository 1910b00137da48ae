package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/ledger"
)

const room = "testroom"

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newLedger(t testing.TB) (*ledger.Ledger, ds.Batching) {
	t.Helper()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	l, err := ledger.Open(context.Background(), store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, store
}

func appendN(t testing.TB, l *ledger.Ledger, key crypto.PrivKey, n int) []*ledger.Event {
	t.Helper()
	var out []*ledger.Event
	for i := range n {
		ev, err := l.Append(context.Background(), key, room, ledger.KindMsg, []byte(fmt.Sprintf("m%d", i)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestSignDecodeRoundTrip(t *testing.T) {
	key := newKey(t)
	ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: []byte("hi"), Time: time.UnixMilli(1700000000000), Lamport: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.Decode(ev.Raw())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != ev.ID() || got.ID() != ledger.ComputeID(ev.Raw()) {
		t.Fatalf("ID mismatch")
	}
	if got.Room != room || got.Kind != "msg" || string(got.Body) != "hi" || got.Time != 1700000000000 || got.Lamport != 1 || got.Author != ev.Author {
		t.Fatalf("fields differ: %+v", got)
	}
	id, err := ledger.ParseID(ev.ID().String())
	if err != nil || id != ev.ID() {
		t.Fatalf("ParseID(String()) = %v, %v", id, err)
	}
}

// P2: bad events never decode, or never enter a room's ledger.
func TestRejectsInvalidEvents(t *testing.T) {
	key := newKey(t)
	good, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: []byte("hello"), Time: time.Now(), Lamport: 1})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	raw := good.Raw()
	cases := map[string][]byte{
		"forged signature": flip(raw, len(raw)-1),
		"altered body":     bytes.Replace(raw, []byte("hello"), []byte("hellO"), 1),
		"truncated":        raw[:len(raw)-5],
		"garbage":          []byte("not an event at all"),
		"empty":            nil,
		"oversized":        make([]byte, ledger.MaxEventSize+1),
		"trailing bytes":   append(bytes.Clone(raw), 0),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ledger.Decode(b); !errors.Is(err, ledger.ErrInvalidEvent) {
				t.Fatalf("Decode = %v, want ErrInvalidEvent", err)
			}
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		_, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: make([]byte, ledger.MaxBodySize+1), Time: time.Now(), Lamport: 1})
		if !errors.Is(err, ledger.ErrInvalidEvent) {
			t.Fatalf("Sign = %v, want ErrInvalidEvent", err)
		}
	})
	t.Run("bad room id", func(t *testing.T) {
		_, err := ledger.Sign(key, ledger.Draft{Room: "Bad/Room", Kind: "msg", Time: time.Now(), Lamport: 1})
		if !errors.Is(err, ledger.ErrInvalidEvent) {
			t.Fatalf("Sign = %v, want ErrInvalidEvent", err)
		}
	})
	t.Run("wrong domain", func(t *testing.T) {
		// A correctly signed envelope for another domain is not an event.
		if _, err := ledger.Decode(signOtherDomain(t, key)); !errors.Is(err, ledger.ErrInvalidEvent) {
			t.Fatalf("Decode = %v", err)
		}
	})

	l, store := newLedger(t)
	t.Run("unknown room", func(t *testing.T) {
		added, rej, err := l.Add(context.Background(), "otherroom", good)
		if err != nil || len(added) != 0 || len(rej) != 1 || !errors.Is(rej[0].Err, ledger.ErrWrongRoom) {
			t.Fatalf("Add = %v %v %v, want ErrWrongRoom", added, rej, err)
		}
	})
	t.Run("missing parents", func(t *testing.T) {
		child, _ := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: []byte("x"), Time: time.Now(), Lamport: 2, Parents: []ledger.ID{good.ID()}})
		_, rej, err := l.Add(context.Background(), room, child)
		if err != nil || len(rej) != 1 || !errors.Is(rej[0].Err, ledger.ErrMissingParents) {
			t.Fatalf("Add = %v %v, want ErrMissingParents", rej, err)
		}
	})
	t.Run("lamport does not follow parents", func(t *testing.T) {
		if _, _, err := l.Add(context.Background(), room, good); err != nil {
			t.Fatal(err)
		}
		child, _ := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: []byte("x"), Time: time.Now(), Lamport: 7, Parents: []ledger.ID{good.ID()}})
		_, rej, err := l.Add(context.Background(), room, child)
		if err != nil || len(rej) != 1 || !errors.Is(rej[0].Err, ledger.ErrBadParents) {
			t.Fatalf("Add = %v %v, want ErrBadParents", rej, err)
		}
	})
	t.Run("nothing stored", func(t *testing.T) {
		n, _ := l.Count(context.Background(), room)
		if n != 1 {
			t.Fatalf("count = %d, want only the good event", n)
		}
		res, _ := store.Query(context.Background(), query.Query{Prefix: "/r/otherroom"})
		if es, _ := res.Rest(); len(es) != 0 {
			t.Fatalf("wrong-room event left %d keys", len(es))
		}
	})
}

func TestAppendLinksAndOrders(t *testing.T) {
	l, _ := newLedger(t)
	key := newKey(t)
	evs := appendN(t, l, key, 5)
	for i, ev := range evs {
		if ev.Lamport != uint64(i+1) {
			t.Fatalf("event %d lamport %d", i, ev.Lamport)
		}
		if i > 0 && (len(ev.Parents) != 1 || ev.Parents[0] != evs[i-1].ID()) {
			t.Fatalf("event %d parents %v", i, ev.Parents)
		}
	}
	heads, _ := l.Heads(context.Background(), room)
	if len(heads) != 1 || heads[0] != evs[4].ID() {
		t.Fatalf("heads = %v", heads)
	}
	rep, err := l.Verify(context.Background(), room)
	if err != nil || !rep.OK || rep.Events != 5 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

func TestHistoryPages(t *testing.T) {
	l, _ := newLedger(t)
	key := newKey(t)
	// Enough events to cross a 256-lamport bucket of the order index.
	evs := appendN(t, l, key, 600)
	ctx := context.Background()
	page, err := l.History(ctx, room, "", 10)
	if err != nil || len(page) != 10 || page[9].ID() != evs[599].ID() || page[0].ID() != evs[590].ID() {
		t.Fatalf("last page wrong: %d %v", len(page), err)
	}
	var all []*ledger.Event
	before := ledger.ID("")
	for {
		page, err := l.History(ctx, room, before, 97)
		if err != nil {
			t.Fatal(err)
		}
		all = append(page, all...)
		if len(page) < 97 {
			break
		}
		before = page[0].ID()
	}
	if len(all) != 600 {
		t.Fatalf("paged %d events, want 600", len(all))
	}
	for i := range all {
		if all[i].ID() != evs[i].ID() {
			t.Fatalf("event %d out of order", i)
		}
	}
	since, err := l.Since(ctx, evs[299].Seq, room, 1000)
	if err != nil || len(since) != 300 || since[0].ID() != evs[300].ID() {
		t.Fatalf("Since = %d events, %v", len(since), err)
	}
}

// P3: two ledgers holding the same events, received in different orders,
// show the same history byte for byte.
func TestDeterministicOrder(t *testing.T) {
	src, _ := newLedger(t)
	ctx := context.Background()
	keys := []crypto.PrivKey{newKey(t), newKey(t), newKey(t)}
	// Build a DAG with concurrent branches: each author appends on its own
	// copy, then they merge.
	var evs []*ledger.Event
	for round := range 5 {
		var roundEvs []*ledger.Event
		heads, _ := src.Heads(ctx, room)
		var lam uint64
		for _, h := range heads {
			e, _ := src.Get(ctx, room, h)
			lam = max(lam, e.Lamport)
		}
		for i, k := range keys {
			ev, err := ledger.Sign(k, ledger.Draft{Room: room, Kind: "msg", Body: []byte(fmt.Sprintf("r%d a%d", round, i)), Time: time.Now(), Lamport: lam + 1, Parents: heads})
			if err != nil {
				t.Fatal(err)
			}
			roundEvs = append(roundEvs, ev)
		}
		if _, rej, err := src.Add(ctx, room, roundEvs...); err != nil || len(rej) > 0 {
			t.Fatal(err, rej)
		}
		evs = append(evs, roundEvs...)
	}
	a, _ := newLedger(t)
	b, _ := newLedger(t)
	if _, rej, err := a.Add(ctx, room, evs...); err != nil || len(rej) > 0 {
		t.Fatal(err, rej)
	}
	// b gets them round by round, each round reversed.
	for i := len(keys); i <= len(evs); i += len(keys) {
		chunk := evs[i-len(keys) : i]
		for j := len(chunk) - 1; j >= 0; j-- {
			if _, rej, err := b.Add(ctx, room, chunk[j]); err != nil || len(rej) > 0 {
				t.Fatal(err, rej)
			}
		}
	}
	ha, _ := a.History(ctx, room, "", 100)
	hb, _ := b.History(ctx, room, "", 100)
	if len(ha) != len(evs) || len(hb) != len(evs) {
		t.Fatalf("history lengths %d %d", len(ha), len(hb))
	}
	for i := range ha {
		if !bytes.Equal(ha[i].Raw(), hb[i].Raw()) {
			t.Fatalf("histories differ at %d", i)
		}
		if i > 0 && (ha[i].Lamport < ha[i-1].Lamport || ha[i].Lamport == ha[i-1].Lamport && ha[i].ID() < ha[i-1].ID()) {
			t.Fatalf("not in (lamport, id) order at %d", i)
		}
	}
	for _, l := range []*ledger.Ledger{a, b} {
		if rep, _ := l.Verify(ctx, room); !rep.OK {
			t.Fatalf("verify: %+v", rep)
		}
	}
}

// P1: changing, removing or reordering a stored event makes Verify fail
// and name it.
func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	orderKeys := func(t *testing.T, store ds.Datastore) []query.Entry {
		res, err := store.Query(ctx, query.Query{Prefix: "/r/" + room + "/o", Orders: []query.Order{query.OrderByKey{}}})
		if err != nil {
			t.Fatal(err)
		}
		es, _ := res.Rest()
		return es
	}
	setup := func(t *testing.T) (*ledger.Ledger, ds.Batching, []*ledger.Event) {
		l, store := newLedger(t)
		return l, store, appendN(t, l, newKey(t), 6)
	}
	mustName := func(t *testing.T, l *ledger.Ledger, id ledger.ID) {
		t.Helper()
		rep, err := l.Verify(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || len(rep.Problems) == 0 {
			t.Fatalf("Verify passed a tampered ledger")
		}
		for _, p := range rep.Problems {
			if p.Event == id.String() {
				return
			}
		}
		t.Fatalf("Verify did not name %s: %+v", id, rep.Problems)
	}
	t.Run("altered", func(t *testing.T) {
		l, store, evs := setup(t)
		es := orderKeys(t, store)
		v := bytes.Replace(es[2].Value, []byte("m2"), []byte("m9"), 1)
		store.Put(ctx, ds.RawKey(es[2].Key), v)
		mustName(t, l, evs[2].ID())
	})
	t.Run("re-signed by someone else", func(t *testing.T) {
		l, store, evs := setup(t)
		es := orderKeys(t, store)
		forged, _ := ledger.Sign(newKey(t), ledger.Draft{Room: room, Kind: "msg", Body: []byte("m2"), Time: time.Now(), Lamport: 3, Parents: evs[2].Parents})
		store.Put(ctx, ds.RawKey(es[2].Key), append(bytes.Clone(es[2].Value[:8]), forged.Raw()...))
		mustName(t, l, evs[2].ID())
	})
	t.Run("removed in the middle", func(t *testing.T) {
		l, store, evs := setup(t)
		es := orderKeys(t, store)
		store.Delete(ctx, ds.RawKey(es[3].Key))
		mustName(t, l, evs[4].ID()) // its child names it as missing parent
		rep, _ := l.Verify(ctx, room)
		if !strings.Contains(fmt.Sprint(rep.Problems), evs[3].ID().String()) {
			t.Fatalf("removed event not named: %+v", rep.Problems)
		}
	})
	t.Run("removed head", func(t *testing.T) {
		l, store, evs := setup(t)
		es := orderKeys(t, store)
		store.Delete(ctx, ds.RawKey(es[5].Key))
		mustName(t, l, evs[5].ID())
	})
	t.Run("reordered", func(t *testing.T) {
		l, store, evs := setup(t)
		es := orderKeys(t, store)
		store.Put(ctx, ds.RawKey(es[1].Key), es[4].Value)
		store.Put(ctx, ds.RawKey(es[4].Key), es[1].Value)
		mustName(t, l, evs[1].ID())
		mustName(t, l, evs[4].ID())
	})
	t.Run("intact", func(t *testing.T) {
		l, _, _ := setup(t)
		if rep, err := l.Verify(ctx, room); err != nil || !rep.OK || rep.Events != 6 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
	})
}

// Group commit: many concurrent writers, every one acknowledged is stored,
// the DAG stays valid.
func TestConcurrentAppend(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := newKey(t)
			for i := range 50 {
				if _, err := l.Append(ctx, k, room, "msg", []byte(fmt.Sprintf("%d-%d", w, i)), time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := l.Count(ctx, room); n != 400 {
		t.Fatalf("count %d", n)
	}
	if rep, err := l.Verify(ctx, room); err != nil || !rep.OK || rep.Events != 400 {
		t.Fatalf("Verify = %+v %v", rep, err)
	}
}

func TestReopenKeepsState(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	ctx := context.Background()
	l, _ := ledger.Open(ctx, store, ledger.Config{})
	key := newKey(t)
	evs := appendN(t, l, key, 3)
	l.Close()
	if _, err := l.Append(ctx, key, room, "msg", []byte("late"), time.Now()); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	l2, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ev, err := l2.Append(ctx, key, room, "msg", []byte("after"), time.Now())
	if err != nil || ev.Lamport != 4 || ev.Parents[0] != evs[2].ID() || ev.Seq != 4 {
		t.Fatalf("after reopen: %+v %v", ev, err)
	}
}

// Duplicates are never stored twice: not right after they were added
// (found in memory), not after a reopen (found in the datastore), and not
// when they sit deep below the newest events.
func TestDuplicatesIgnored(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	ctx := context.Background()
	src, _ := newLedger(t)
	evs := appendN(t, src, newKey(t), 600)

	l, _ := ledger.Open(ctx, store, ledger.Config{})
	if added, _, err := l.Add(ctx, room, evs...); err != nil || len(added) != 600 {
		t.Fatalf("first add: %d %v", len(added), err)
	}
	for _, batch := range [][]*ledger.Event{evs[590:], evs[:10], evs} {
		if added, rej, err := l.Add(ctx, room, batch...); err != nil || len(added) != 0 || len(rej) != 0 {
			t.Fatalf("re-adding %d events stored %d (%v, %v)", len(batch), len(added), rej, err)
		}
	}
	l.Close()
	l2, _ := ledger.Open(ctx, store, ledger.Config{})
	defer l2.Close()
	if added, _, err := l2.Add(ctx, room, evs[595:]...); err != nil || len(added) != 0 {
		t.Fatalf("after reopen, re-adding stored %d (%v)", len(added), err)
	}
	if n, _ := l2.Count(ctx, room); n != 600 {
		t.Fatalf("count %d, want 600", n)
	}
	if rep, err := l2.Verify(ctx, room); err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// The text form of an ID is multibase base32hex: "v", lower case, no
// padding (docs/PROTOCOL.md); String builds it by hand, so check it
// against the standard encoder.
func TestIDTextForm(t *testing.T) {
	for i := range 50 {
		id := ledger.ComputeID([]byte(fmt.Sprint("event ", i)))
		want := "v" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(id)))
		if got := id.String(); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	}
}

// Stored answers for events in the in-memory window, below it, after a
// reopen (datastore only), and for events never stored.
func TestStored(t *testing.T) {
	ctx := context.Background()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	l, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	evs := appendN(t, l, key, 300) // the first ones fall below the window
	for i := range 300 {
		if _, err := l.Append(ctx, key, "otherroom", ledger.KindMsg, fmt.Appendf(nil, "o%d", i), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	stranger, err := ledger.Sign(newKey(t), ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("never stored"), Time: time.Now(), Lamport: 5, Parents: []ledger.ID{evs[3].ID()}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(l *ledger.Ledger, when string) {
		t.Helper()
		for _, i := range []int{0, 10, 150, 299} {
			if ok, err := l.Stored(ctx, room, evs[i].ID(), evs[i].Lamport); err != nil || !ok {
				t.Fatalf("%s: event %d: stored %v, err %v", when, i, ok, err)
			}
		}
		for _, lam := range []uint64{stranger.Lamport, 300, 301} {
			if ok, err := l.Stored(ctx, room, stranger.ID(), lam); err != nil || ok {
				t.Fatalf("%s: unknown event at Lamport %d: stored %v, err %v", when, lam, ok, err)
			}
		}
		// otherroom has events far above evs[0]'s Lamport clock, so the
		// answer comes from its own index or datastore, not a shortcut.
		if ok, err := l.Stored(ctx, "otherroom", evs[0].ID(), evs[0].Lamport); err != nil || ok {
			t.Fatalf("%s: event found in another room: %v %v", when, ok, err)
		}
	}
	check(l, "open")
	l.Close()
	if _, err := l.Stored(ctx, room, evs[0].ID(), evs[0].Lamport); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("Stored after Close: %v, want ErrClosed", err)
	}
	l2, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	check(l2, "reopened")
}

// Verify on a ledger that keeps being written reports what is stored, not
// a half-written view: a scan racing a commit used to see an event's order
// key and then a head naming its successor.
func TestVerifyWhileWriting(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	appendN(t, l, newKey(t), 1)
	const writers, each = 4, 1000
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := newKey(t)
			for i := range each {
				if _, err := l.Append(ctx, key, room, ledger.KindMsg, []byte(fmt.Sprintf("w%d-%d", w, i)), time.Now()); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for verifies := 0; ; verifies++ {
		rep, err := l.Verify(ctx, room)
		if err != nil || !rep.OK {
			<-finished
			t.Fatalf("verify %d during writes: %+v, %v", verifies, rep, err)
		}
		select {
		case <-finished:
		default:
			continue
		}
		t.Logf("%d verifies during %d appends", verifies+1, writers*each)
		break
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if rep, err := l.Verify(ctx, room); err != nil || !rep.OK || rep.Events != 1+writers*each {
		t.Fatalf("final verify: %+v, %v", rep, err)
	}
}
