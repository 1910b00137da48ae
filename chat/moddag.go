package chat

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// A moderated room's causal bookkeeping. Permission is judged in an
// event's causal past, which would mean walking the DAG per event; but
// mod events are rare, so each event carries only its "mod frontier":
// the set of mod events in its past (and itself, for a mod event), a
// bitset over the room's mod events, interned so that the thousands of
// events between two mod events share one value. A child's set is the
// union of its parents' (the same pointer when they agree, the common
// case), and whether one mod event precedes another is one bit of the
// later one's set. What a causal past decides (modState) is evaluated
// once per distinct set and cached on it.
//
// Memory, per moderated room: one dagNode per event (author, clock,
// parent pointers and the interned set: about 150 bytes with its map
// entry; TestModMemory measures it), plus one bitset of M/8 bytes per
// distinct set for M mod events. Only admins make mod events, so M and
// the number of distinct sets grow with moderation, not with traffic;
// rooms found by name pay nothing.

// frontier is an interned set of mod events, by index in modRoom.list.
type frontier struct {
	bits  []uint64
	state *modState // evaluate over the set; nil until asked
	// epoch is the winning key epoch among the set's epoch events
	// (privepoch.go); epochDone says it was computed.
	epoch     *modEvent
	epochDone bool
}

func (f *frontier) has(i int) bool {
	w := i / 64
	return w < len(f.bits) && f.bits[w]&(1<<(i%64)) != 0
}

// dagNode is what a moderated room keeps of one valid event.
type dagNode struct {
	id      ledger.ID
	author  peer.ID
	lamport uint64
	parents []*dagNode
	incl    *frontier // mod events in its past, and itself if one
	msg     bool      // a msg event (redactions are sent for those)
	stored  bool      // committed (OnCommit saw it), not only validated
}

// modRoom is the moderation state of one moderated room. Its methods
// take mu; they never call the ledger, so the ledger may call them
// under its room lock (Config.Check, Config.Parents).
type modRoom struct {
	id string

	mu      sync.Mutex
	genesis ledger.ID // "" until the create event is known
	creator peer.ID
	name    string
	policy  string // the genesis policy
	private bool   // a private room (private*.go)
	dm      bool   // a direct conversation (dm.go)
	nodes   map[ledger.ID]*dagNode
	authors map[peer.ID]peer.ID // interned author strings
	fronts  map[string]*frontier
	empty   *frontier
	list    []*modEvent // valid mod events, by index
	mods    map[ledger.ID]*modEvent
	stored  []*modEvent // committed mod events: the global state's input
	global  *modState   // evaluate over stored (nil before the genesis)
	hidden  map[ledger.ID]bool
	// joinDue is set when we joined before the genesis was known: our
	// join event waits for it (a root would be refused).
	joinDue bool
	// tip is the newest stored event that is visible and whose author
	// may write: the parent of last resort (ledger.ParentPolicy.Fallback).
	tip ledger.Key
	// genesisCh, once made, is closed when the genesis is stored
	// (joinid.go).
	genesisCh chan struct{}
}

func newModRoom(id string) *modRoom {
	r := &modRoom{id: id, nodes: map[ledger.ID]*dagNode{}, authors: map[peer.ID]peer.ID{},
		fronts: map[string]*frontier{}, mods: map[ledger.ID]*modEvent{}, hidden: map[ledger.ID]bool{}}
	r.empty = r.intern(nil)
	return r
}

// intern returns the one frontier with these bits (trailing zero words
// ignored). bits must not be modified afterwards.
func (r *modRoom) intern(bits []uint64) *frontier {
	for len(bits) > 0 && bits[len(bits)-1] == 0 {
		bits = bits[:len(bits)-1]
	}
	key := make([]byte, 8*len(bits))
	for i, w := range bits {
		binary.LittleEndian.PutUint64(key[8*i:], w)
	}
	if f, ok := r.fronts[string(key)]; ok {
		return f
	}
	f := &frontier{bits: bits}
	r.fronts[string(key)] = f
	return f
}

// merge is the union of the parents' sets.
func (r *modRoom) merge(parents []*dagNode) *frontier {
	f := parents[0].incl
	same := true
	for _, p := range parents[1:] {
		same = same && p.incl == f
	}
	if same {
		return f
	}
	var bits []uint64
	for _, p := range parents {
		for len(bits) < len(p.incl.bits) {
			bits = append(bits, 0)
		}
		for i, w := range p.incl.bits {
			bits[i] |= w
		}
	}
	return r.intern(bits)
}

// stateOf evaluates what the mod events of f decide (cached on f).
func (r *modRoom) stateOf(f *frontier) *modState {
	if f.state == nil {
		var mods []*modEvent
		for i, m := range r.list {
			if f.has(i) {
				mods = append(mods, m)
			}
		}
		f.state = evaluate(r.creator, r.policy, mods)
	}
	return f.state
}

// check judges ev by the room's rules in its causal past and, if it is
// valid, records it. Its parents must have been judged (they are stored,
// or validated on their way to the store).
func (r *modRoom) check(ev *ledger.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := ev.ID()
	if _, ok := r.nodes[id]; ok {
		return nil
	}
	n, err := r.judge(ev)
	if err != nil {
		return err
	}
	r.nodes[id] = n
	return nil
}

// checkGossip is check for gossip, which also ignores a valid event that
// the room's bans hide now (a banned author writing past the ban's back):
// such an event is not recorded, so a banned author cannot grow our
// bookkeeping by gossip. (Sync stores it, hidden: see docs/PROTOCOL.md.)
func (r *modRoom) checkGossip(ev *ledger.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := ev.ID()
	if n, ok := r.nodes[id]; ok {
		if !n.stored && r.global != nil && r.hiddenNode(n, r.global) {
			return fmt.Errorf("%w: %s is banned", ErrNotAllowed, ev.Author)
		}
		return nil
	}
	if r.global == nil || len(r.global.bans[ev.Author]) == 0 {
		return r.record(ev)
	}
	n, err := r.judge(ev)
	if err != nil {
		return err
	}
	if r.hiddenNode(n, r.global) {
		return fmt.Errorf("%w: %s is banned", ErrNotAllowed, ev.Author)
	}
	r.nodes[ev.ID()] = n
	return nil
}

// record judges and records ev. r.mu is held.
func (r *modRoom) record(ev *ledger.Event) error {
	n, err := r.judge(ev)
	if err != nil {
		return err
	}
	r.nodes[ev.ID()] = n
	return nil
}

// judge is check without the bookkeeping of known events. r.mu is held.
func (r *modRoom) judge(ev *ledger.Event) (*dagNode, error) {
	author, ok := r.authors[ev.Author]
	if !ok {
		author = ev.Author
		r.authors[author] = author
	}
	if len(ev.Parents) == 0 {
		return r.judgeGenesis(ev, author)
	}
	if ev.Kind == KindCreate {
		return nil, fmt.Errorf("%w: a create event with parents", ErrNotGenesis)
	}
	parents := make([]*dagNode, len(ev.Parents))
	for i, p := range ev.Parents {
		if parents[i] = r.nodes[p]; parents[i] == nil {
			return nil, fmt.Errorf("%w: parent %s not judged", ErrNotAllowed, p)
		}
	}
	past := r.merge(parents)
	st := r.stateOf(past)
	switch {
	case st.banned[author]:
		return nil, fmt.Errorf("%w: %s is banned in the event's past", ErrNotAllowed, author)
	case !st.mayWrite(author):
		return nil, fmt.Errorf("%w: %s is not admitted (members policy)", ErrNotAllowed, author)
	}
	n := &dagNode{id: ev.ID(), author: author, lamport: ev.Lamport, parents: parents, incl: past,
		msg: ev.Kind == ledger.KindMsg || ev.Kind == KindEnc}
	var act modAct
	switch {
	case isPrivateKind(ev.Kind):
		if !r.private {
			return nil, fmt.Errorf("%w: %s event in a room that is not private", ErrNotAllowed, ev.Kind)
		}
		var a modAct
		var err error
		switch ev.Kind {
		case KindEpoch:
			a, err = r.judgeEpoch(ev, author, st, past)
		case KindInviteRevoke:
			a, err = judgeRevoke(ev, author, st)
		default:
			return n, r.judgePrivate(ev, author, st, past)
		}
		if err != nil {
			return nil, err
		}
		act = a
	case r.private && ev.Kind == ledger.KindMsg:
		return nil, fmt.Errorf("%w: plaintext message in a private room", ErrNotAllowed)
	case ev.Kind != KindMod:
		return n, nil
	default:
		a, err := decodeMod(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotAllowed, err)
		}
		if !st.admins[author] {
			return nil, fmt.Errorf("%w: %s in the event's past", ErrNotAdmin, author)
		}
		act = a
	}
	m := &modEvent{id: ev.ID(), lamport: ev.Lamport, author: author, act: act, past: past}
	idx := len(r.list)
	r.list = append(r.list, m)
	r.mods[m.id] = m
	bits := make([]uint64, max(len(past.bits), idx/64+1))
	copy(bits, past.bits)
	bits[idx/64] |= 1 << (idx % 64)
	n.incl = r.intern(bits)
	m.idx = idx
	return n, nil
}

// judgeGenesis accepts the room's one root: a create event at clock 1
// whose author and name derive the room's ID.
func (r *modRoom) judgeGenesis(ev *ledger.Event, author peer.ID) (*dagNode, error) {
	if ev.Kind != KindCreate || ev.Lamport != 1 {
		return nil, fmt.Errorf("%w: only the genesis may have no parents", ErrNotGenesis)
	}
	c, err := decodeCreate(ev.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotGenesis, err)
	}
	if c.Private {
		if PrivateRoomID(c.Nonce, author) != r.id {
			return nil, fmt.Errorf("%w: nonce and author %s do not derive room %s", ErrNotGenesis, author, r.id)
		}
	} else if ModeratedRoomID(c.Name, author) != r.id {
		return nil, fmt.Errorf("%w: name %q and author %s do not derive room %s", ErrNotGenesis, c.Name, author, r.id)
	}
	if r.genesis != "" && r.genesis != ev.ID() {
		// Same author and name: the creator signed two. The first one
		// judged stands, on this node; honest creators sign one.
		return nil, fmt.Errorf("%w: the room already has a genesis", ErrNotGenesis)
	}
	r.genesis, r.creator, r.name, r.policy, r.private, r.dm = ev.ID(), author, c.Name, c.Policy, c.Private, c.DM
	r.global = evaluate(author, c.Policy, nil)
	return &dagNode{id: ev.ID(), author: author, lamport: 1, incl: r.empty}, nil
}

// snapshot returns the room's name, current policy and state (nil
// before the genesis is known). The state must not be modified.
func (r *modRoom) snapshot() (name string, st *modState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.name, r.global
}

// deferJoin reports whether our join must wait for the genesis, and if
// so remembers to announce it then.
func (r *modRoom) deferJoin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.genesis != "" {
		return false
	}
	r.joinDue = true
	return true
}

// joinNow reports, once, that a deferred join can be announced.
func (r *modRoom) joinNow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := r.joinDue && r.genesis != "" && r.nodes[r.genesis].stored
	if ok {
		r.joinDue = false
	}
	return ok
}
