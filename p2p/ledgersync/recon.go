package ledgersync

import (
	"github.com/parley-chat/parley/ledger"
)

// recon is one side's view of a room during a session: a snapshot of its
// keys and the reconciliation parameters.
type recon struct {
	ks        *ledger.KeySet
	branch    int  // K: sub-ranges per split
	threshold int  // T: at most this many keys → send the ID list instead of splitting
	budget    int  // range items this side may emit per round
	v1        bool // the session speaks ProtocolV1: XOR fingerprints
}

// span returns the indexes [i, j) of own keys inside [lo, hi).
func (c *recon) span(lo, hi bound) (int, int) {
	i := c.ks.Search(func(k ledger.Key) bool { return atOrAfter(k, lo) })
	j := c.ks.Search(func(k ledger.Key) bool { return atOrAfter(k, hi) })
	return i, max(i, j)
}

// has reports whether k is in the snapshot.
func (c *recon) has(k ledger.Key) bool {
	i := c.ks.Search(func(x ledger.Key) bool { return x.Compare(k) >= 0 })
	return i < c.ks.Len() && c.ks.At(i) == k
}

func (c *recon) fp(i, j int) fp16 { return toFP(c.ks.Fingerprint(i, j), c.v1) }

// split appends fingerprint items for up to branch sub-ranges of [lo, hi),
// cut between own keys i..j (j-i >= 2).
func (c *recon) split(out []item, lo, hi bound, i, j int) []item {
	n := j - i
	parts := min(c.branch, n)
	from := lo
	for p := range parts {
		a, b := i+p*n/parts, i+(p+1)*n/parts
		to := hi
		if p < parts-1 {
			to = boundBetween(c.ks.At(b-1), c.ks.At(b))
		}
		out = append(out, item{lo: from, hi: to, mode: modeFingerprint, fp: c.fp(a, b)})
		from = to
	}
	return out
}

// idList returns an ID-list item for own keys i..j in [lo, hi).
func (c *recon) idList(lo, hi bound, i, j int) item {
	return item{lo: lo, hi: hi, mode: modeIDList, keys: c.ks.Slice(i, j)}
}

// round is what one side answers to the peer's items of one round.
type round struct {
	out  []item       // range items to send
	send []ledger.Key // responder: events to send
	want []ledger.ID  // requester: events to ask for
	// lacks is set by the responder when the peer showed it has events the
	// responder lacks (so a sync in the other direction is worth it).
	lacks bool
	// violation is set when the peer sent an item its role may not send.
	violation string
	// merging: the budget ran out at mergeLo; everything from there to
	// mergeHi (the end of the peer's last item so far) is answered with
	// one fingerprint when the round ends (endRound).
	merging          bool
	mergeLo, mergeHi bound
}

// full reports whether emitting n more items would pass the budget.
func (c *recon) full(r *round, n int) bool { return len(r.out)+n > c.budget }

// merge starts covering the rest of the peer's items, which do not fit
// this round, with one fingerprint of own keys, to be reconciled in later
// rounds.
func (c *recon) merge(r *round, lo, hi bound) {
	r.merging, r.mergeLo, r.mergeHi = true, lo, hi
}

// merged reports whether the round is already merging; if so it extends
// the merged range over items (the peer's next frame of the round).
func (c *recon) merged(r *round, items []item) bool {
	if r.merging && len(items) > 0 {
		r.mergeHi = items[len(items)-1].hi
	}
	return r.merging
}

// endRound appends the merged range's fingerprint, if any, once all of the
// peer's items of the round are answered.
func (c *recon) endRound(r *round) {
	if r.merging {
		i, j := c.span(r.mergeLo, r.mergeHi)
		r.out = append(r.out, item{lo: r.mergeLo, hi: r.mergeHi, mode: modeFingerprint, fp: c.fp(i, j)})
		r.merging = false
	}
}

// respond adds the responder's answer to the requester's items (one frame
// of a round) to r; endRound completes it.
func (c *recon) respond(items []item, r *round) {
	if c.merged(r, items) {
		return
	}
	for x := range items {
		it := &items[x]
		i, j := c.span(it.lo, it.hi)
		n := j - i
		switch it.mode {
		case modeSendAll:
			r.send = append(r.send, c.ks.Slice(i, j)...)
		case modeIDList:
			theirs := it.keys
			a := 0
			for _, k := range c.ks.Slice(i, j) {
				for a < len(theirs) && theirs[a].Compare(k) < 0 {
					a++
					r.lacks = true
				}
				if a < len(theirs) && theirs[a] == k {
					a++
					continue
				}
				r.send = append(r.send, k)
			}
			if a < len(theirs) {
				r.lacks = true
			}
		case modeFingerprint:
			own := c.fp(i, j)
			switch {
			case own == it.fp:
			case it.fp.count == 0:
				r.send = append(r.send, c.ks.Slice(i, j)...)
			case n == 0:
				r.lacks = true
			case n <= c.threshold:
				if it.fp.count >= uint64(n) {
					r.lacks = true // different sets, theirs no smaller
				}
				if c.full(r, 1) {
					c.merge(r, it.lo, items[len(items)-1].hi)
					return
				}
				r.out = append(r.out, c.idList(it.lo, it.hi, i, j))
			default:
				if it.fp.count >= uint64(n) {
					r.lacks = true
				}
				if c.full(r, c.branch) {
					c.merge(r, it.lo, items[len(items)-1].hi)
					return
				}
				r.out = c.split(r.out, it.lo, it.hi, i, j)
			}
		}
	}
}

// request adds the requester's answer to the responder's items (one frame
// of a round) to r; endRound completes it.
func (c *recon) request(items []item, r *round, wanted map[ledger.ID]bool) {
	if c.merged(r, items) {
		return
	}
	for x := range items {
		it := &items[x]
		switch it.mode {
		case modeIDList:
			for _, k := range it.keys {
				if len(r.want) >= MaxWantPerRound {
					break
				}
				if !wanted[k.ID] && !c.has(k) {
					wanted[k.ID] = true
					r.want = append(r.want, k.ID)
				}
			}
		case modeFingerprint:
			i, j := c.span(it.lo, it.hi)
			n := j - i
			own := c.fp(i, j)
			switch {
			case own == it.fp, it.fp.count == 0:
			case n == 0:
				if c.full(r, 1) {
					c.merge(r, it.lo, items[len(items)-1].hi)
					return
				}
				r.out = append(r.out, item{lo: it.lo, hi: it.hi, mode: modeSendAll})
			case n <= c.threshold:
				if c.full(r, 1) {
					c.merge(r, it.lo, items[len(items)-1].hi)
					return
				}
				r.out = append(r.out, c.idList(it.lo, it.hi, i, j))
			default:
				if c.full(r, c.branch) {
					c.merge(r, it.lo, items[len(items)-1].hi)
					return
				}
				r.out = c.split(r.out, it.lo, it.hi, i, j)
			}
		default:
			r.violation = "responder sent a send-all item"
			return
		}
	}
}

// expectation is what the requester accepts in the responder's next
// message: events it asked for by ID, and events inside ranges it asked
// to be filled (all of them, or all but its own).
type expectation struct {
	want   map[ledger.ID]bool
	ranges []expRange // sorted, disjoint
}

type expRange struct {
	lo, hi  bound
	exclOwn bool
}

func newExpectation(out []item, want []ledger.ID) *expectation {
	e := &expectation{want: make(map[ledger.ID]bool, len(want))}
	for _, id := range want {
		e.want[id] = true
	}
	for _, it := range out {
		switch {
		case it.mode == modeSendAll, it.mode == modeFingerprint && it.fp.count == 0:
			e.ranges = append(e.ranges, expRange{it.lo, it.hi, false})
		case it.mode == modeIDList:
			e.ranges = append(e.ranges, expRange{it.lo, it.hi, true})
		}
	}
	return e
}

// accepts reports whether the event at k was asked for. Each ID is accepted
// once per session (seen).
func (e *expectation) accepts(c *recon, k ledger.Key, seen map[ledger.ID]bool) bool {
	if seen[k.ID] {
		return false
	}
	ok := false
	if e.want[k.ID] {
		delete(e.want, k.ID)
		ok = true
	} else {
		lo, hi := 0, len(e.ranges)
		for lo < hi {
			m := (lo + hi) / 2
			if atOrAfter(k, e.ranges[m].hi) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(e.ranges) && atOrAfter(k, e.ranges[lo].lo) {
			ok = !e.ranges[lo].exclOwn || c == nil || !c.has(k)
		}
	}
	if ok {
		seen[k.ID] = true
	}
	return ok
}
