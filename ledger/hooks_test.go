package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// TestCheckRefuses shows Config.Check refusing events on both paths:
// Add reports ErrRefused (not a parent error), Append returns it, and
// nothing refused is stored.
func TestCheckRefuses(t *testing.T) {
	ctx := context.Background()
	bad := newKey(t)
	badID, _ := peer.IDFromPrivateKey(bad)
	l, err := ledger.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), ledger.Config{
		Check: func(ev *ledger.Event) error {
			if ev.Author == badID {
				return errors.New("banned")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := appendN(t, l, newKey(t), 1)[0]
	if _, err := l.Append(ctx, bad, room, ledger.KindMsg, []byte("x"), time.Now()); !errors.Is(err, ledger.ErrRefused) {
		t.Fatalf("Append by refused author: %v, want ErrRefused", err)
	}
	ev, err := ledger.Sign(bad, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("y"), Lamport: 2, Parents: []ledger.ID{good.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	added, rejected, err := l.Add(ctx, room, ev)
	if err != nil || len(added) != 0 || len(rejected) != 1 || !errors.Is(rejected[0].Err, ledger.ErrRefused) ||
		errors.Is(rejected[0].Err, ledger.ErrBadParents) {
		t.Fatalf("Add: added %d, rejected %v, err %v", len(added), rejected, err)
	}
	if n, _ := l.Count(ctx, room); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// TestParentPolicy shows Config.Parents: Allow keeps a refused author's
// head out of a new event's parents, and Root lets a stranger's root
// (a moderated room's genesis) be chosen, which the default never does.
func TestParentPolicy(t *testing.T) {
	ctx := context.Background()
	creator, spammer, me := newKey(t), newKey(t), newKey(t)
	spamID, _ := peer.IDFromPrivateKey(spammer)
	var pol ledger.ParentPolicy
	l, err := ledger.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), ledger.Config{
		Parents: func(string) ledger.ParentPolicy { return pol },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	genesis, err := ledger.Sign(creator, ledger.Draft{Room: room, Kind: "create", Body: []byte("{}"), Lamport: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Add(ctx, room, genesis); err != nil {
		t.Fatal(err)
	}
	ev := appendN(t, l, me, 1)[0]
	if len(ev.Parents) != 0 {
		t.Fatalf("default policy chose a stranger's root: %v", ev.Parents)
	}
	pol.Root = genesis.ID()
	ev2, err := l.Append(ctx, newKey(t), room, ledger.KindMsg, []byte("j"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev2.Parents) != 1 || ev2.Parents[0] != genesis.ID() {
		t.Fatalf("with Root set, parents %v, want the genesis", ev2.Parents)
	}
	spam, err := ledger.Sign(spammer, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("s"), Lamport: 3, Parents: []ledger.ID{ev2.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Add(ctx, room, spam); err != nil {
		t.Fatal(err)
	}
	pol.Allow = func(_ ledger.ID, a peer.ID) bool { return a != spamID }
	ev3, err := l.Append(ctx, me, room, ledger.KindMsg, []byte("k"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ev3.Parents {
		if p == spam.ID() {
			t.Fatalf("parents %v name the refused author's head", ev3.Parents)
		}
	}
	// A newcomer whose every candidate head is refused names the
	// fallback rather than becoming a root.
	pol.Allow = func(ledger.ID, peer.ID) bool { return false }
	pol.Fallback = ledger.Key{Lamport: ev2.Lamport, ID: ev2.ID()}
	ev4, err := l.Append(ctx, newKey(t), room, ledger.KindMsg, []byte("n"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev4.Parents) != 1 || ev4.Parents[0] != ev2.ID() || ev4.Lamport != ev2.Lamport+1 {
		t.Fatalf("with every head refused, parents %v (lamport %d), want the fallback", ev4.Parents, ev4.Lamport)
	}
}

// AppendAfter names the parents given (not only heads), with the clock
// they imply, and refuses parents it does not hold.
func TestAppendAfter(t *testing.T) {
	l, _ := newLedger(t)
	key := newKey(t)
	evs := appendN(t, l, key, 3)
	ev, err := l.AppendAfter(context.Background(), newKey(t), room, ledger.KindMsg, []byte("x"), time.Now(), []ledger.ID{evs[0].ID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Parents) != 1 || ev.Parents[0] != evs[0].ID() || ev.Lamport != evs[0].Lamport+1 {
		t.Fatalf("parents %v lamport %d, want the first event's", ev.Parents, ev.Lamport)
	}
	if _, err := l.AppendAfter(context.Background(), key, room, ledger.KindMsg, []byte("y"), time.Now(), []ledger.ID{ledger.ComputeID([]byte("nope"))}); !errors.Is(err, ledger.ErrMissingParents) {
		t.Fatalf("unknown parent: %v, want ErrMissingParents", err)
	}
}
