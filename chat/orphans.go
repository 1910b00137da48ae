package chat

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// OrphanLimits bound the events held while their parents are fetched, in
// bytes, so that no stranger can make a node hold more than a known amount
// (docs/RELIABILITY.md, "Hostile peers"). An event is charged what holding
// it costs in memory (orphanCost); past a budget the oldest events in
// that budget are dropped (sync fetches them again if they matter), and
// nothing of a dropped event stays in any index.
type OrphanLimits struct {
	// Bytes bounds all orphans of the node. Default 64 MiB.
	Bytes int64
	// RoomBytes bounds the orphans of one room. Default 16 MiB.
	RoomBytes int64
	// GroupBytes bounds the orphans forwarded by one address group (the
	// forwarding peer's IPv4 /24 or IPv6 /48; see Network.Group), so that
	// peers from one network cannot fill a room's budget alone.
	// Default 4 MiB.
	GroupBytes int64
	// MaxAge is how long an orphan waits for its parents before it is
	// dropped: long enough for the repair syncs (repair.go, about 19 s in
	// all), short enough that an attacker who left stops costing memory
	// soon. Default 2 minutes.
	MaxAge time.Duration
}

// DefaultOrphanLimits are the orphan budgets a node runs with.
func DefaultOrphanLimits() OrphanLimits {
	return OrphanLimits{Bytes: 64 << 20, RoomBytes: 16 << 20, GroupBytes: 4 << 20, MaxAge: 2 * time.Minute}
}

// What holding an orphan costs beyond twice its signed bytes, allocated (a decoded
// event keeps its bytes and the payload parsed from them), as measured by
// TestOrphanCostCoversHeap: the rest of the event, the entry and its list
// and map entries (orphanOverhead), and each missing parent's key in the
// entry and in the waiting index (orphanRefCost).
const (
	orphanOverhead = 640
	orphanRefCost  = 200
)

// orphanCost is what an orphan is charged against its budgets.
func orphanCost(ev *ledger.Event, missing int) int64 {
	return 2*allocSize(len(ev.Raw())) + orphanOverhead + int64(missing)*orphanRefCost
}

// allocSize is about what the Go allocator takes for n bytes: whole 8 KiB
// pages above 32 KiB, else a size class at most 1/8 larger.
func allocSize(n int) int64 {
	if n > 32<<10 {
		return int64(n+8<<10-1) &^ (8<<10 - 1)
	}
	return int64(n + n/8)
}

// OrphanStats is a snapshot of the orphan pool.
type OrphanStats struct {
	Events        int   // events held
	Bytes         int64 // what they are charged, in all
	MaxRoomBytes  int64 // of the room charged the most
	MaxGroupBytes int64 // of the address group charged the most
	Evicted       int64 // dropped over a budget or MaxAge, since start
}

// orphanPool holds verified events whose parents have not arrived, for all
// rooms, within OrphanLimits. Each event sits on three lists in arrival
// order (all, its room's, its group's), so the oldest of any budget is
// found at once, and in the waiting index under each missing parent.
// Safe for concurrent use.
type orphanPool struct {
	lim     OrphanLimits
	now     func() time.Time
	onLevel func(events int, bytes int64) // after every change; may be nil

	mu      sync.Mutex
	events  map[ledger.ID]*orphan
	waiting map[ledger.ID][]*orphan // missing parent → children waiting
	all     scope
	rooms   map[string]*scope
	groups  map[string]*scope
	evicted int64
}

// Indexes of orphan.links.
const (
	linkAll = iota
	linkRoom
	linkGroup
)

// scope is one budget: its events, oldest first, and their cost.
type scope struct {
	head, tail *orphan
	bytes      int64
	n          int
}

type orphan struct {
	ev          *ledger.Event
	room, group string
	from        peer.ID
	missing     []ledger.ID // parents still missing; at most ledger.MaxParents
	pos         []int32     // pos[i]: o's index in waiting[missing[i]]
	size        int64
	added       time.Time
	asked       bool // a sync was scheduled for it
	links       [3]struct{ prev, next *orphan }
}

func newOrphanPool(lim OrphanLimits, now func() time.Time) *orphanPool {
	return &orphanPool{
		lim: lim, now: now,
		events:  make(map[ledger.ID]*orphan),
		waiting: make(map[ledger.ID][]*orphan),
		rooms:   make(map[string]*scope),
		groups:  make(map[string]*scope),
	}
}

func (s *scope) push(o *orphan, k int) {
	o.links[k].prev, o.links[k].next = s.tail, nil
	if s.tail != nil {
		s.tail.links[k].next = o
	} else {
		s.head = o
	}
	s.tail = o
	s.bytes += o.size
	s.n++
}

func (s *scope) remove(o *orphan, k int) {
	l := &o.links[k]
	if l.prev != nil {
		l.prev.links[k].next = l.next
	} else {
		s.head = l.next
	}
	if l.next != nil {
		l.next.links[k].prev = l.prev
	} else {
		s.tail = l.prev
	}
	l.prev, l.next = nil, nil
	s.bytes -= o.size
	s.n--
}

// add holds ev of room, forwarded by from (of address group group), until
// the parents in missing arrive. It makes room by dropping the oldest
// orphans of whichever budget ev would exceed; an event larger than a
// budget on its own is not held. It reports whether ev is held (also when
// it already was).
func (p *orphanPool) add(room string, ev *ledger.Event, missing []ledger.ID, from peer.ID, group string) bool {
	if len(missing) > ledger.MaxParents { // decoding bounds parents; a caller bug otherwise
		missing = missing[:ledger.MaxParents]
	}
	size := orphanCost(ev, len(missing))
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.report()
	now := p.now()
	p.expire(now)
	if _, ok := p.events[ev.ID()]; ok {
		return true
	}
	if size > p.lim.GroupBytes || size > p.lim.RoomBytes || size > p.lim.Bytes {
		p.evicted++
		return false
	}
	if g := p.groups[group]; g != nil {
		for g.bytes+size > p.lim.GroupBytes {
			p.drop(g.head, true)
		}
	}
	if r := p.rooms[room]; r != nil {
		for r.bytes+size > p.lim.RoomBytes {
			p.drop(r.head, true)
		}
	}
	for p.all.bytes+size > p.lim.Bytes {
		p.drop(p.all.head, true)
	}
	o := &orphan{ev: ev, room: room, group: group, from: from, missing: slices.Clone(missing), pos: make([]int32, len(missing)), size: size, added: now}
	p.events[ev.ID()] = o
	for i, m := range o.missing {
		o.pos[i] = int32(len(p.waiting[m]))
		p.waiting[m] = append(p.waiting[m], o)
	}
	p.all.push(o, linkAll)
	p.scopeOf(p.rooms, room).push(o, linkRoom)
	p.scopeOf(p.groups, group).push(o, linkGroup)
	return true
}

func (p *orphanPool) scopeOf(m map[string]*scope, key string) *scope {
	s := m[key]
	if s == nil {
		s = new(scope)
		m[key] = s
	}
	return s
}

// leaveScope removes o from the scope m[key] (list k), and the scope from
// m once it is empty.
func leaveScope(m map[string]*scope, key string, o *orphan, k int) {
	s := m[key]
	s.remove(o, k)
	if s.head == nil {
		delete(m, key)
	}
}

// drop removes o from every list and index; evicted counts it as dropped
// rather than released. p.mu must be held.
func (p *orphanPool) drop(o *orphan, evicted bool) {
	delete(p.events, o.ev.ID())
	for i := range o.missing {
		p.unwait(o, i)
	}
	o.missing, o.pos = nil, nil
	p.all.remove(o, linkAll)
	leaveScope(p.rooms, o.room, o, linkRoom)
	leaveScope(p.groups, o.group, o, linkGroup)
	if evicted {
		p.evicted++
	}
}

// unwait removes o from the waiting list of its parent o.missing[i], in
// O(1): the list's last entry takes o's place. p.mu must be held.
func (p *orphanPool) unwait(o *orphan, i int) {
	m, at := o.missing[i], o.pos[i]
	w := p.waiting[m]
	last := w[len(w)-1]
	w[at] = last
	for k, lm := range last.missing {
		if lm == m {
			last.pos[k] = at
			break
		}
	}
	w[len(w)-1] = nil
	if w = w[:len(w)-1]; len(w) == 0 {
		delete(p.waiting, m)
	} else {
		p.waiting[m] = w
	}
}

// expire drops orphans older than MaxAge. p.mu must be held.
func (p *orphanPool) expire(now time.Time) {
	for p.all.head != nil && now.Sub(p.all.head.added) > p.lim.MaxAge {
		p.drop(p.all.head, true)
	}
}

// sweep drops orphans older than MaxAge; the service calls it now and
// then, so that orphans expire also when none arrive.
func (p *orphanPool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.report()
	p.expire(p.now())
}

// report passes the pool's level to onLevel. p.mu must be held.
func (p *orphanPool) report() {
	if p.onLevel != nil {
		p.onLevel(len(p.events), p.all.bytes)
	}
}

// release returns the orphans of room that were waiting only for id, and
// forgets them.
func (p *orphanPool) release(room string, id ledger.ID) []*ledger.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	kids := slices.Clone(p.waiting[id])
	if len(kids) == 0 {
		return nil
	}
	defer p.report()
	var out []*ledger.Event
	for _, o := range kids {
		if o.room != room {
			continue // a parent ID named in another room: not this one
		}
		i := slices.Index(o.missing, id)
		p.unwait(o, i)
		o.missing = slices.Delete(o.missing, i, i+1)
		o.pos = slices.Delete(o.pos, i, i+1)
		if len(o.missing) == 0 {
			p.drop(o, false)
			out = append(out, o.ev)
		}
	}
	return out
}

// stats returns a snapshot of the pool.
func (p *orphanPool) stats() OrphanStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := OrphanStats{Events: len(p.events), Bytes: p.all.bytes, Evicted: p.evicted}
	for _, s := range p.rooms {
		st.MaxRoomBytes = max(st.MaxRoomBytes, s.bytes)
	}
	for _, s := range p.groups {
		st.MaxGroupBytes = max(st.MaxGroupBytes, s.bytes)
	}
	return st
}

// indexSizes returns the sizes of every index, for tests that check
// nothing is left behind.
func (p *orphanPool) indexSizes() (events, waiting, rooms, groups int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events), len(p.waiting), len(p.rooms), len(p.groups)
}

// orphans is one room's view of the pool.
type orphans struct {
	pool *orphanPool
	room string
}

func (o *orphans) add(ev *ledger.Event, missing []ledger.ID, from peer.ID, group string) bool {
	return o.pool.add(o.room, ev, missing, from, group)
}

// release returns the orphans that were waiting only for id.
func (o *orphans) release(id ledger.ID) []*ledger.Event { return o.pool.release(o.room, id) }

// len returns how many events of the room are held.
func (o *orphans) len() int {
	o.pool.mu.Lock()
	defer o.pool.mu.Unlock()
	if s := o.pool.rooms[o.room]; s != nil {
		return s.n
	}
	return 0
}

// releaseChildren returns the orphans that were waiting only for events
// among stored and, transitively, for the events it returns: a chain of
// orphans comes out whole, parents before children, so one ledger write
// stores it instead of one write per generation.
func (o *orphans) releaseChildren(stored []*ledger.Event) []*ledger.Event {
	var out []*ledger.Event
	for _, ev := range stored {
		out = append(out, o.release(ev.ID())...)
	}
	for i := 0; i < len(out); i++ {
		out = append(out, o.release(out[i].ID())...)
	}
	return out
}

// has reports whether id is still held.
func (o *orphans) has(id ledger.ID) bool {
	o.pool.mu.Lock()
	defer o.pool.mu.Unlock()
	_, ok := o.pool.events[id]
	return ok
}

// markAsked records that a sync was scheduled for id; it returns false if
// one already was (or id is not held).
func (o *orphans) markAsked(id ledger.ID) bool {
	o.pool.mu.Lock()
	defer o.pool.mu.Unlock()
	or := o.pool.events[id]
	if or == nil || or.asked {
		return false
	}
	or.asked = true
	return true
}

// unasked returns the oldest orphan of the room forwarded by from that no
// sync was scheduled for, if any. It walks the room's list: it runs once
// per repair, and the room's budget bounds the list.
func (o *orphans) unasked(from peer.ID) (ledger.ID, bool) {
	o.pool.mu.Lock()
	defer o.pool.mu.Unlock()
	r := o.pool.rooms[o.room]
	if r == nil {
		return "", false
	}
	for or := r.head; or != nil; or = or.links[linkRoom].next {
		if or.from == from && !or.asked {
			return or.ev.ID(), true
		}
	}
	return "", false
}
