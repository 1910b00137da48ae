package chat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/parley-chat/parley/ledger"
)

// TestModerationConverges is the convergence property of moderation:
// three admins and three writers act on a moderated room through
// partitions (each pulls only from its side, as a sync would), making
// concurrent bans, unbans, appointments and revocations; then everyone
// syncs, and two observers receive the union of all events in random
// orders. Every node must end with the same stored events, the same
// visible history and the same admin and ban sets.
func TestModerationConverges(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	var bans, hidden int
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			b, h := convergeOnce(t, uint64(seed))
			bans += b
			hidden += h
		})
	}
	// The property must have been exercised, not met vacuously.
	if bans == 0 || hidden == 0 {
		t.Fatalf("over %d runs: %d effective bans, %d hidden events; the scenario did not moderate", seeds, bans, hidden)
	}
}

func convergeOnce(t *testing.T, seed uint64) (bans, hidden int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 18))
	var actors []*modPeer
	for i := range 6 {
		actors = append(actors, newModPeer(t, fmt.Sprint("p", i)))
	}
	admins, writers := actors[:3], actors[3:]
	r := setup(t, admins[0], actors[1:]...)
	for _, a := range admins[1:] {
		if err := admins[0].s.Moderate(ctx, r.ID, OpAdmin, a.id.String(), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range actors[1:] {
		a.pull(t, admins[0], r.ID)
	}
	group := make([]int, len(actors)) // partition side of each actor
	for round := range 60 {
		if rng.IntN(4) == 0 {
			for i := range group {
				group[i] = rng.IntN(2)
			}
		}
		if rng.IntN(6) == 0 {
			clear(group) // healed
		}
		i := rng.IntN(len(actors))
		a := actors[i]
		target := actors[rng.IntN(len(actors))].id.String()
		var err error
		switch k := rng.IntN(10); {
		case i < 3 && k == 0:
			err = a.s.Moderate(ctx, r.ID, OpBan, writers[rng.IntN(len(writers))].id.String(), "")
		case i < 3 && k == 1:
			err = a.s.Moderate(ctx, r.ID, OpBan, target, "")
		case i < 3 && k == 2:
			err = a.s.Moderate(ctx, r.ID, OpUnban, target, "")
		case i < 3 && k == 3:
			err = a.s.Moderate(ctx, r.ID, OpUnadmin, admins[rng.IntN(3)].id.String(), "")
		case i < 3 && k == 4:
			err = a.s.Moderate(ctx, r.ID, OpAdmin, admins[rng.IntN(3)].id.String(), "")
		default:
			_, err = a.s.Send(ctx, r.ID, fmt.Sprintf("m%d-%d", round, i))
		}
		if err != nil && !errors.Is(err, ErrNotAdmin) && !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("round %d: %v", round, err)
		}
		// Gossip within the actor's side of the partition.
		for k, o := range actors {
			if k != i && group[k] == group[i] && rng.IntN(2) == 0 {
				o.pull(t, a, r.ID)
				a.pull(t, o, r.ID)
			}
		}
	}
	for range 2 {
		for _, a := range actors {
			for _, o := range actors {
				if a != o {
					a.pull(t, o, r.ID)
				}
			}
		}
	}
	// Observers: the union, shuffled, delivered one by one; an event
	// whose parents have not come yet is offered again later.
	union := map[ledger.ID]*ledger.Event{}
	for _, a := range actors {
		for _, ev := range a.events(t, r.ID) {
			union[ev.ID()] = ev
		}
	}
	var observers []*modPeer
	for k := range 2 {
		o := newModPeer(t, fmt.Sprint("o", k))
		if _, err := o.s.Join(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		var todo []*ledger.Event
		for _, ev := range union {
			todo = append(todo, ev)
		}
		rng.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
		for len(todo) > 0 {
			var again []*ledger.Event
			for _, ev := range todo {
				_, rejected, err := o.s.Ingest(ctx, r.ID, []*ledger.Event{ev})
				if err != nil {
					t.Fatal(err)
				}
				for _, rj := range rejected {
					if !errors.Is(rj.Err, ledger.ErrMissingParents) {
						t.Fatalf("observer rejected %s: %v", ev.ID(), rj.Err)
					}
					again = append(again, ev)
				}
			}
			if len(again) == len(todo) {
				t.Fatalf("%d events never fit", len(again))
			}
			todo = again
		}
		observers = append(observers, o)
	}
	// Let deferred join announcements settle, then compare everyone to
	// the first actor (joins are not messages: histories ignore them).
	ref := admins[0]
	want := describeRoom(t, ref, r.ID)
	for _, p := range append(actors[1:], observers...) {
		if got := describeRoom(t, p, r.ID); got.String() != want.String() {
			t.Fatalf("diverged:\n%s\nwant\n%s", got, want)
		}
	}
	banned, _ := ref.s.Banned(ctx, r.ID)
	return len(banned), want.hidden
}

type roomView struct {
	msgs    []string
	admins  []string
	banned  []string
	storedM int
	hidden  int
}

func (v roomView) String() string {
	return fmt.Sprintf("msgs %v\nadmins %v\nbanned %v\nstored msgs %d, hidden %d", v.msgs, v.admins, v.banned, v.storedM, v.hidden)
}

func describeRoom(t *testing.T, p *modPeer, room string) roomView {
	t.Helper()
	var v roomView
	msgs, err := p.s.History(context.Background(), room, HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		v.msgs = append(v.msgs, m.ID)
	}
	v.admins = p.admins(t, room)
	v.banned, _ = p.s.Banned(context.Background(), room)
	for _, ev := range p.events(t, room) {
		if ev.Kind == ledger.KindMsg {
			v.storedM++
		}
	}
	v.hidden = v.storedM - len(v.msgs)
	slices.Sort(v.msgs)
	return v
}
