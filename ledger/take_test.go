package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// These tests drive the committer's queue directly: enqueue and take, with
// neither goroutine started, so the groups formed are exactly determined.

// takeQueue is a committer whose queue is filled by hand.
type takeQueue struct {
	t     *testing.T
	c     *committer
	rooms map[string]*roomState
	names map[*writeReq]string
	taken []*writeReq // every request taken, in order
}

func newTakeQueue(t *testing.T, maxGroup int) *takeQueue {
	cfg := Config{MaxGroupEvents: maxGroup}.withDefaults()
	return &takeQueue{
		t:     t,
		c:     newCommitter(nil, slog.Default(), cfg, nil),
		rooms: make(map[string]*roomState),
		names: make(map[*writeReq]string),
	}
}

// add queues a bulk write (Add) of n events in room.
func (q *takeQueue) add(room string, n int) *writeReq { return q.queue(room, n, false) }

// local queues a local send (Append) in room.
func (q *takeQueue) local(room string) *writeReq { return q.queue(room, 1, true) }

func (q *takeQueue) queue(room string, n int, durable bool) *writeReq {
	q.t.Helper()
	st := q.rooms[room]
	if st == nil {
		st = newRoomState(room)
		q.rooms[room] = st
	}
	r := &writeReq{st: st, events: make([]*Event, n), durable: durable, done: make(chan error, 1)}
	kind := "add"
	if durable {
		kind = "append"
	}
	q.names[r] = fmt.Sprintf("%s/%s#%d", room, kind, len(q.names))
	if err := q.c.enqueue(r); err != nil {
		q.t.Fatal(err)
	}
	return r
}

// take takes the next group and checks the rules that hold for every
// group: it is not empty, and it holds at most maxGroup events unless it
// is one request or only Appends.
func (q *takeQueue) take() []*writeReq {
	q.t.Helper()
	g := q.c.take()
	if len(g) == 0 {
		q.t.Fatal("take returned an empty group with requests queued")
	}
	if n := countEvents(g); len(g) > 1 && n > q.c.maxGroup && ownWriters(g) < len(g) {
		q.t.Fatalf("group %s holds %d events, more than maxGroup %d", q.show(g), n, q.c.maxGroup)
	}
	q.taken = append(q.taken, g...)
	return g
}

func (q *takeQueue) show(g []*writeReq) []string {
	out := make([]string, len(g))
	for i, r := range g {
		out[i] = q.names[r]
	}
	return out
}

func (q *takeQueue) empty() bool {
	q.c.mu.Lock()
	defer q.c.mu.Unlock()
	return len(q.c.turns) == 0 && len(q.c.queued) == 0
}

func groupHas(g []*writeReq, r *writeReq) bool {
	for _, x := range g {
		if x == r {
			return true
		}
	}
	return false
}

func hasAdd(g []*writeReq) bool { return ownWriters(g) < len(g) }

// A room with a long queue of bulk writes keeps another room's request
// waiting for at most one group, whatever the sizes, and each room's
// requests leave the queue in the order they were queued.
func TestTakeSharesGroupsAmongRooms(t *testing.T) {
	for _, size := range []int{1, 100, 512, 1024, 3000} {
		for _, kind := range []string{"add", "append"} {
			t.Run(fmt.Sprintf("A adds %d, B %s", size, kind), func(t *testing.T) {
				q := newTakeQueue(t, 1024)
				var aReqs []*writeReq
				for range 40 {
					aReqs = append(aReqs, q.add("a", size))
				}
				// B queues behind A's backlog, and again after A's
				// queue has already been served for a while.
				for round := range 3 {
					var b *writeReq
					if kind == "add" {
						b = q.add("b", 1)
					} else {
						b = q.local("b")
					}
					first := q.take()
					if !groupHas(first, b) {
						if second := q.take(); !groupHas(second, b) {
							t.Fatalf("round %d: B's %s not in the two groups after it was queued: %v, %v",
								round, kind, q.show(first), q.show(second))
						}
					}
					if !q.empty() {
						q.take() // A alone for a group, if any is left
					}
				}
				for !q.empty() {
					q.take()
				}
				var got []*writeReq
				for _, r := range q.taken {
					if r.st.name == "a" {
						got = append(got, r)
					}
				}
				if len(got) != len(aReqs) {
					t.Fatalf("%d of A's %d requests taken", len(got), len(aReqs))
				}
				for i, r := range got {
					if r != aReqs[i] {
						t.Fatalf("A's requests left out of order: %s taken %dth", q.names[r], i)
					}
				}
			})
		}
	}
}

// Local sends (Append) go ahead of bulk writes (Add): when any room's
// next request is an Append, the group is every room's leading Appends
// and nothing else.
func TestTakeAppendsFirst(t *testing.T) {
	q := newTakeQueue(t, 1024)
	q.add("a", 512)
	q.add("a", 512)
	b1, b2 := q.local("b"), q.local("b")
	bAdd := q.add("b", 10)
	b3 := q.local("b") // behind B's Add: must wait for it
	q.add("c", 1)
	d1 := q.local("d")

	g := q.take()
	want := []*writeReq{b1, b2, d1}
	if len(g) != len(want) {
		t.Fatalf("first group %v, want B's two leading Appends and D's", q.show(g))
	}
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("first group %v, want B's two leading Appends and D's", q.show(g))
		}
	}
	// The next group serves the waiting Adds (B's Add among them); B's
	// last Append comes only after the Add queued before it.
	g = q.take()
	if !groupHas(g, bAdd) || groupHas(g, b3) {
		t.Fatalf("second group %v, want B's Add and not the Append queued behind it", q.show(g))
	}
	g = q.take()
	if len(g) != 1 || g[0] != b3 {
		t.Fatalf("third group %v, want B's last Append alone", q.show(g))
	}
}

// A steady stream of Appends does not starve bulk writes: after a group
// of only Appends, the next group takes one request of each room in turn
// while Adds wait.
func TestTakeAddsNotStarved(t *testing.T) {
	q := newTakeQueue(t, 1024)
	const adds = 5
	for range adds {
		q.add("a", 512)
	}
	taken := 0
	prevLocalOnly := false
	for i := 0; taken < adds; i++ {
		if i == 4*adds {
			t.Fatalf("%d of %d Adds taken after %d groups with a send before each", taken, adds, i)
		}
		q.local("b")
		q.local("c")
		g := q.take()
		localOnly := !hasAdd(g)
		if localOnly && prevLocalOnly {
			t.Fatalf("group %d: two groups in a row without an Add while Adds wait: %v", i, q.show(g))
		}
		prevLocalOnly = localOnly
		for _, r := range g {
			if !r.durable {
				taken++
			}
		}
	}
}

// yieldToFlush holds a group of only Adds back while our own written
// events await their fsync, for one fsync at most and never longer than
// the last fsync took, and not at all when an Append is queued.
func TestYieldToFlush(t *testing.T) {
	cases := []struct {
		name    string
		release func(q *takeQueue) // ends the hold
	}{
		{"one fsync finishes", func(q *takeQueue) {
			// Another send's events await the next fsync: the hold
			// ends all the same, after one.
			q.c.mu.Lock()
			q.c.flushes++
			q.c.mu.Unlock()
			q.c.flushed <- struct{}{}
		}},
		{"append queued", func(q *takeQueue) { q.local("b") }},
		{"the last fsync's time passes", func(q *takeQueue) { time.Sleep(time.Hour) }},
		{"committer closes", func(q *takeQueue) { q.c.cancel() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := newTakeQueue(t, 1024)
				q.c.ctx, q.c.cancel = context.WithCancel(t.Context())
				defer q.c.cancel()
				q.add("a", 512)
				q.c.mu.Lock()
				q.c.ownWritten, q.c.fsyncTook = 1, time.Hour
				q.c.mu.Unlock()

				var returned atomic.Bool
				go func() {
					q.c.yieldToFlush()
					returned.Store(true)
				}()
				synctest.Wait()
				if returned.Load() {
					t.Fatal("a bulk group was not held back while our events await their fsync")
				}
				// Spurious wake-ups (a stale signal, a kick for an Add)
				// do not end the hold.
				q.c.flushed <- struct{}{}
				q.add("c", 1)
				synctest.Wait()
				if returned.Load() {
					t.Fatal("the hold ended without its fsync finishing")
				}
				tc.release(q)
				synctest.Wait()
				if !returned.Load() {
					t.Fatalf("the hold did not end when %s", tc.name)
				}
			})
		})
	}
}

// Nothing is held back when it would not help: with no fsync of ours
// pending, with an Append queued, or before any fsync has been timed.
func TestYieldToFlushNoHold(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ownWritten int
		local      bool
		took       time.Duration
	}{
		{"no fsync pending", 0, false, time.Hour},
		{"append queued", 1, true, time.Hour},
		{"no fsync timed yet", 1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := newTakeQueue(t, 1024)
				q.c.ctx, q.c.cancel = context.WithCancel(t.Context())
				defer q.c.cancel()
				q.add("a", 512)
				if tc.local {
					q.local("b")
				}
				q.c.ownWritten, q.c.fsyncTook = tc.ownWritten, tc.took
				<-q.c.kick // nothing wakes it but what it checks first
				t0 := time.Now()
				q.c.yieldToFlush()
				if d := time.Since(t0); d != 0 {
					t.Fatalf("held for %v", d)
				}
			})
		})
	}
}
