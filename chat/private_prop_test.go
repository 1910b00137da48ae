package chat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
)

// Random histories of a private room with 2 or 3 admins adding and
// removing members while partitioned from each other (no sync between
// some of their acts), then healed. Every node converges on the same
// current epoch and members; the current epoch is sealed to exactly the
// members (a removal made in a losing branch still stands, by a rekey);
// and no epoch is sealed to a peer removed in its causal past.
func TestPrivateEpochsConverge(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { epochRun(t, seed) })
	}
}

func epochRun(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := newKeyDir()
	nAdmins := 2 + int(seed%2)
	var admins, others []*privPeer
	for i := range nAdmins {
		admins = append(admins, newPrivPeer(t, dir, fmt.Sprintf("admin%d", i)))
	}
	for i := range 3 {
		others = append(others, newPrivPeer(t, dir, fmt.Sprintf("m%d", i)))
	}
	a0 := admins[0]
	r, _, err := a0.s.CreatePrivate(ctx, "prop")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range admins[1:] {
		if _, err := a0.s.Invite(ctx, r.ID, a.id.String()); err != nil {
			t.Fatal(err)
		}
		if err := a0.s.Moderate(ctx, r.ID, OpAdmin, a.id.String(), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range admins[1:] {
		if _, err := a.s.Join(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		a.pull(t, a0.modPeer, r.ID)
	}
	for range 10 {
		a := admins[rng.IntN(len(admins))]
		target := others[rng.IntN(len(others))].id.String()
		if rng.IntN(2) == 0 {
			if _, err := a.s.Invite(ctx, r.ID, target); err != nil {
				t.Fatal(err)
			}
		} else if err := a.s.Kick(ctx, r.ID, target); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 { // sometimes the partition heals for a moment
			b := admins[rng.IntN(len(admins))]
			if b != a {
				b.pull(t, a.modPeer, r.ID)
			}
		}
	}
	count := func(p *privPeer) int {
		n, _ := p.s.led.Count(ctx, r.ID)
		return int(n)
	}
	testwait.For(t, 20*time.Second, "admins converge", func() bool {
		for _, a := range admins {
			for _, b := range admins {
				if a != b {
					a.pull(t, b.modPeer, r.ID)
				}
			}
		}
		first := admins[0].s.modRoom(r.ID)
		epoch, members, _ := first.currentEpoch()
		for _, a := range admins {
			mr := a.s.modRoom(r.ID)
			e, m, _ := mr.currentEpoch()
			if count(a) != count(admins[0]) || e != epoch || !slices.Equal(m, members) || !slices.Equal(mr.members(), members) {
				return false
			}
		}
		return true
	}, func() string {
		out := ""
		for i, a := range admins {
			mr := a.s.modRoom(r.ID)
			e, m, _ := mr.currentEpoch()
			_, st := mr.snapshot()
			out += fmt.Sprintf("admin %d (%s): events %d epoch %s members %v now %v admin %v stale %v\n", i, a.id, count(a), e, m, mr.members(), st.admins[a.id], stale(mr))
		}
		return out
	})
	mr := a0.s.modRoom(r.ID)
	mr.mu.Lock()
	defer mr.mu.Unlock()
	for _, ep := range mr.list {
		if ep.act.op != opEpoch {
			continue
		}
		// The members the epoch's own past decides; a peer banned there
		// is never a recipient.
		st := mr.stateOf(ep.past)
		for _, m := range ep.act.epoch.Members {
			if st.banned[m] {
				t.Fatalf("epoch %s sealed to %s, removed in its past", ep.id, m)
			}
		}
	}
}
