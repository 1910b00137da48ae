package ledger

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Parent choice. A new event of ours names as parents, newest first by
// (Lamport, ID), at most MaxParents of the room's heads that are
//
//   - ours (written by the appending key), whatever their clock, so our
//     own branches are always merged; or
//   - another author's event that has parents, at most parentWindow
//     Lamport levels below the room's newest such head.
//
// Another author's root (an event without parents) is never chosen: it
// costs nothing but a signature and ties itself to nothing, so a stranger
// can make any number of them (issue 18: a sync responder pushed 100,000),
// and an author who has written nothing with parents yet is not a writer
// of the room for us. Heads far below the top are stragglers or spam tied
// to old history; their authors' own nodes merge them (they are their
// own heads there). When nothing is eligible, the new event is a root.
//
// The choice costs O(k² + m log m) for k = MaxParents and m of our own
// heads, whatever the number of heads H; adding and removing a head costs
// O(log H). Heads are stored with their clock and author (headValue), so
// loading H heads is one prefix read.
const parentWindow = 64

// headIndex holds a room's heads, ordered for choosing parents. It is
// guarded by the room's lock.
type headIndex struct {
	built    headHeap                 // heads with parents, newest on top
	at       map[ID]*headEntry        // every head
	byAuthor map[peer.ID][]*headEntry // every head, by author (unordered)
}

type headEntry struct {
	key    Key
	author peer.ID
	pos    int // in built, or -1 for a root
	apos   int // in byAuthor[author]
}

func newHeadIndex() *headIndex {
	return &headIndex{at: make(map[ID]*headEntry), byAuthor: make(map[peer.ID][]*headEntry)}
}

func (x *headIndex) len() int { return len(x.at) }

// lamport returns the Lamport clock of head id, if id is a head.
func (x *headIndex) lamport(id ID) (uint64, bool) {
	if e, ok := x.at[id]; ok {
		return e.key.Lamport, true
	}
	return 0, false
}

// ids returns the heads' IDs, unordered.
func (x *headIndex) ids() []ID {
	out := make([]ID, 0, len(x.at))
	for id := range x.at {
		out = append(out, id)
	}
	return out
}

// add indexes a head. A head already present is left alone.
func (x *headIndex) add(id ID, lamport uint64, author peer.ID) {
	if _, ok := x.at[id]; ok {
		return
	}
	e := &headEntry{key: Key{Lamport: lamport, ID: id}, author: author, pos: -1}
	x.at[id] = e
	e.apos = len(x.byAuthor[author])
	x.byAuthor[author] = append(x.byAuthor[author], e)
	if lamport > 1 {
		heap.Push(&x.built, e)
	}
}

// remove forgets a head (it became a parent); it reports whether id was
// a head.
func (x *headIndex) remove(id ID) bool {
	e, ok := x.at[id]
	if !ok {
		return false
	}
	delete(x.at, id)
	if e.pos >= 0 {
		heap.Remove(&x.built, e.pos)
	}
	list := x.byAuthor[e.author]
	last := len(list) - 1
	list[e.apos] = list[last]
	list[e.apos].apos = e.apos
	list[last] = nil
	if last == 0 {
		delete(x.byAuthor, e.author)
	} else {
		x.byAuthor[e.author] = list[:last]
	}
	return true
}

// ParentPolicy narrows Append's parent choice in one room (Config.Parents).
// The zero value is the default rule (see parentWindow).
type ParentPolicy struct {
	// Allow, if set, reports whether another author's head may be a
	// parent (chat: its author may write and is not banned). Our own
	// heads are always chosen.
	Allow func(id ID, author peer.ID) bool
	// Root, if set, is the one root of another author that may be
	// chosen (chat: a moderated room's genesis, which the first joiner
	// must name).
	Root ID
	// Fallback, if set, is a stored event (not necessarily a head) to
	// name when Allow lets no other author's head through (chat: the
	// room's newest visible event), so that a new event still joins
	// the room's history rather than becoming a root.
	Fallback Key
}

// allowScan bounds how many heads choose looks at past those Allow
// refuses, so that a flood of refused heads costs O(allowScan), not O(H).
const allowScan = 4 * MaxParents

// choose returns the parents of a new event by author and its Lamport
// clock (see parentWindow for the rule, and pol for a room's own).
func (x *headIndex) choose(author peer.ID, pol ParentPolicy) ([]ID, uint64) {
	cands := make([]Key, 0, MaxParents+len(x.byAuthor[author])+1)
	for _, e := range x.byAuthor[author] {
		cands = append(cands, e.key)
	}
	if pol.Root != "" {
		if e, ok := x.at[pol.Root]; ok && e.author != author && e.key.Lamport == 1 {
			cands = append(cands, e.key)
		}
	}
	if len(x.built) > 0 {
		top := x.built[0].key.Lamport
		floor := uint64(0)
		if top > parentWindow {
			floor = top - parentWindow
		}
		scan, taken := MaxParents, 0
		if pol.Allow != nil {
			scan = allowScan
		}
		x.built.newest(scan, func(e *headEntry) bool {
			if e.key.Lamport < floor || taken == MaxParents {
				return false // and so is everything below it
			}
			if e.author != author && (pol.Allow == nil || pol.Allow(e.key.ID, e.author)) { // ours are in already
				cands = append(cands, e.key)
				taken++
			}
			return true
		})
	}
	if pol.Allow != nil && pol.Fallback.ID != "" && len(cands) == len(x.byAuthor[author]) && !slices.Contains(cands, pol.Fallback) {
		cands = append(cands, pol.Fallback)
	}
	slices.SortFunc(cands, func(a, b Key) int { return b.Compare(a) })
	if len(cands) > MaxParents {
		cands = cands[:MaxParents]
	}
	parents := make([]ID, len(cands))
	var lamport uint64
	for i, k := range cands {
		parents[i] = k.ID
		lamport = max(lamport, k.Lamport)
	}
	return parents, lamport + 1
}

// headHeap is a max-heap of heads by (Lamport, ID), for container/heap.
type headHeap []*headEntry

func (h headHeap) Len() int           { return len(h) }
func (h headHeap) Less(i, j int) bool { return h[i].key.Compare(h[j].key) > 0 }
func (h headHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *headHeap) Push(v any) {
	e := v.(*headEntry)
	e.pos = len(*h)
	*h = append(*h, e)
}
func (h *headHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.pos = -1
	*h = old[:len(old)-1]
	return e
}

// newest calls fn with up to k entries, newest first, without changing
// the heap: a best-first walk whose frontier never exceeds k+1 entries.
// fn returning false ends the walk.
func (h headHeap) newest(k int, fn func(*headEntry) bool) {
	if len(h) == 0 {
		return
	}
	frontier := make([]int, 1, k+1)
	for n := 0; n < k && len(frontier) > 0; n++ {
		best := 0
		for i := 1; i < len(frontier); i++ {
			if h.Less(frontier[i], frontier[best]) {
				best = i
			}
		}
		p := frontier[best]
		frontier[best] = frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		if !fn(h[p]) {
			return
		}
		for _, c := range []int{2*p + 1, 2*p + 2} {
			if c < len(h) {
				frontier = append(frontier, c)
			}
		}
	}
}

// headValue is the value of a head's key: its Lamport clock and author,
// so that loading a room's heads needs no read per head.
func headValue(lamport uint64, author peer.ID) []byte {
	b := make([]byte, 8, 8+len(author))
	binary.BigEndian.PutUint64(b, lamport)
	return append(b, author...)
}

// loadHeads reads room's heads in one prefix query. Heads written before
// their keys held a value (empty: clock and author unknown) are looked up
// in the event index and rewritten with their value in one batch, so that
// only the first load after an upgrade pays two reads per old head (spam
// roots are never named as parents, so nothing else would rewrite them).
// The rewrite is safe for the same reason as migrateMeta's: load runs
// under the room's lock before the room is loaded, when no write of it is
// staged or queued in the committer, and so none can delete a head
// behind it.
func (l *Ledger) loadHeads(ctx context.Context, room string) (*headIndex, error) {
	x := newHeadIndex()
	var upgrade []op
	err := runQuery(ctx, l.ds, query.Query{Prefix: roomPrefix(room) + "/h"}, func(key string, v []byte) (bool, error) {
		id, err := ParseID(ds.RawKey(key).BaseNamespace())
		if err != nil {
			return false, err
		}
		var lam uint64
		var author peer.ID
		if len(v) >= 8 {
			lam, author = binary.BigEndian.Uint64(v), peer.ID(v[8:])
		} else {
			ev, err := l.Get(ctx, room, id)
			if err != nil {
				return false, fmt.Errorf("head %s: %w", id, err)
			}
			lam, author = ev.Lamport, ev.Author
			upgrade = append(upgrade, op{key: ds.RawKey(key), value: headValue(lam, author)})
		}
		x.add(id, lam, author)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load heads of %s: %w", room, err)
	}
	if len(upgrade) > 0 {
		if err := l.upgradeHeads(ctx, upgrade); err != nil {
			// The values can be derived again: the next load retries.
			l.log.Warn("room heads not upgraded", "room", room, "heads", len(upgrade), "err", err)
		} else {
			l.log.Info("room heads upgraded", "room", room, "heads", len(upgrade))
		}
	}
	return x, nil
}

// upgradeHeads writes the head values found missing by loadHeads in one
// batch.
func (l *Ledger) upgradeHeads(ctx context.Context, ops []op) error {
	b, err := l.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, o := range ops {
		if err := b.Put(ctx, o.key, o.value); err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}
