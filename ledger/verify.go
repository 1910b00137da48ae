package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	ds "github.com/ipfs/go-datastore"
)

// Report is the result of Verify.
type Report struct {
	OK       bool      `json:"ok"`
	Events   int       `json:"events"`
	Problems []Problem `json:"problems"`
}

// Problem names one bad event (or key, when no event ID can be read) and why.
type Problem struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
}

// maxProblems bounds a report; the first problem is the one that matters.
const maxProblems = 100

// Verify checks every stored event of room (all rooms if room is "") from
// the bytes on disk: signature, ID, room, size, order-index position,
// parents present and earlier, Lamport clock, the ID index, the heads and
// the room summary (which catches removed events nothing refers to). It
// reports problems in (Lamport, ID) order, so the first one is the first bad
// event. An error is returned only when the datastore cannot be read.
func (l *Ledger) Verify(ctx context.Context, room string) (Report, error) {
	rooms := []string{room}
	if room == "" {
		var err error
		if rooms, err = l.Rooms(ctx); err != nil {
			return Report{}, err
		}
	}
	rep := Report{OK: true, Problems: []Problem{}}
	for _, r := range rooms {
		if err := l.verifySettled(ctx, r, &rep); err != nil {
			return rep, err
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// verifySettled verifies room from a view no write changed while it was
// read: a live node keeps writing, and a scan that saw an event's order key
// but read the heads after its successor landed would report a missing
// head. It scans while none of the room's writes is in flight and scans
// again if one settled meanwhile; under a steady stream of writes it
// finally holds the room's lock, so new writes wait for one scan.
func (l *Ledger) verifySettled(ctx context.Context, room string, rep *Report) error {
	const optimistic = 20
	for attempt := 0; attempt < optimistic; attempt++ {
		st := l.loadedRoom(room)
		var gen uint64
		if st != nil {
			var quiet bool
			if gen, quiet = st.quiet(); !quiet {
				if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
					return err
				}
				continue
			}
		}
		var r Report
		if err := l.verifyRoom(ctx, room, &r); err != nil {
			return err
		}
		if l.loadedRoom(room) == st {
			if st == nil {
				rep.merge(r)
				return nil
			}
			if g, quiet := st.quiet(); quiet && g == gen {
				rep.merge(r)
				return nil
			}
		}
	}
	// Hold the lock so no new write is staged while the in-flight ones
	// drain, but not for long: a failed commit takes the lock to drop
	// the room.
	for {
		st, err := l.lockRoom(ctx, room)
		if err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if _, quiet := st.quiet(); quiet {
				defer st.mu.Unlock()
				return l.verifyRoom(ctx, room, rep)
			}
			time.Sleep(time.Millisecond)
		}
		st.mu.Unlock()
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

func (rep *Report) merge(r Report) {
	rep.Events += r.Events
	for _, p := range r.Problems {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, p)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type storedEntry struct {
	key     string
	lamport uint64
	id      ID
	value   []byte
	ev      *Event
	err     error
}

func (l *Ledger) verifyRoom(ctx context.Context, room string, rep *Report) error {
	add := func(event, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{Event: event, Reason: fmt.Sprintf(format, args...)})
		}
	}
	seen := make(map[ID]uint64) // verified events → Lamport
	referenced := make(map[ID]bool)
	var acc accumulator
	var count, maxLam uint64

	check := func(e *storedEntry) error {
		rep.Events++
		name := e.id.String()
		if e.err != nil {
			add(name, "%v", e.err)
			return nil
		}
		ev := e.ev
		switch {
		case ev.Room != room:
			add(name, "belongs to room %s, stored in %s", ev.Room, room)
			return nil
		case ev.Lamport != e.lamport:
			add(name, "stored at lamport %d but signed with %d (reordered)", e.lamport, ev.Lamport)
			return nil
		}
		var parentMax uint64
		for _, p := range ev.Parents {
			lam, ok := seen[p]
			if !ok {
				add(name, "parent %s is missing or invalid", p)
				return nil
			}
			parentMax = max(parentMax, lam)
			referenced[p] = true
		}
		if ev.Lamport != parentMax+1 {
			add(name, "lamport %d does not follow its parents (%d)", ev.Lamport, parentMax+1)
			return nil
		}
		b, err := l.ds.Get(ctx, ds.RawKey(idKey(room, e.id)))
		switch {
		case errors.Is(err, ds.ErrNotFound):
			add(name, "missing from the ID index")
		case err != nil:
			return err
		case len(b) != 8 || binary.BigEndian.Uint64(b) != e.lamport:
			add(name, "ID index entry is wrong")
		}
		seen[e.id] = e.lamport
		accumulate(&acc, e.id)
		count++
		maxLam = max(maxLam, e.lamport)
		return nil
	}

	batch := make([]*storedEntry, 0, verifyBatch)
	flush := func() error {
		verifyParallel(batch)
		for _, e := range batch {
			if err := check(e); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	err := scan(ctx, l.ds, orderPrefix(room), false, 0, func(key string, value []byte) (bool, error) {
		lam, id, err := parseOrderKey(key)
		if err != nil {
			add(key, "unreadable order key: %v", err)
			return true, nil
		}
		batch = append(batch, &storedEntry{key: key, lamport: lam, id: id, value: bytes.Clone(value)})
		if len(batch) == verifyBatch {
			return true, flush()
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", room, err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("verify %s: %w", room, err)
	}

	// Heads: the stored set must be exactly the events nothing refers to.
	stored, err := l.readHeads(ctx, room)
	if err != nil {
		return err
	}
	for _, h := range stored {
		if _, ok := seen[h]; !ok {
			add(h.String(), "head event is missing (removed from the ledger)")
		} else if referenced[h] {
			add(h.String(), "listed as a head but has children")
		}
	}
	var want []ID
	for id := range seen {
		if !referenced[id] && !slices.Contains(stored, id) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	for _, id := range want {
		add(id.String(), "not referenced by any event and not a head (events after it were removed)")
	}

	b, err := l.ds.Get(ctx, ds.RawKey(metaKey(room)))
	switch {
	case errors.Is(err, ds.ErrNotFound):
		if count > 0 {
			add(room, "room summary missing")
		}
	case err != nil:
		return err
	default:
		m, legacy, err := unmarshalMeta(b)
		switch {
		case err != nil:
			add(room, "%v", err)
		case m.count != count:
			add(room, "room summary counts %d events, %d verify (events were removed)", m.count, count)
		case m.acc.xor != acc.xor, !legacy && m.acc.sum != acc.sum:
			add(room, "room summary does not match the stored events (events were replaced)")
		}
	}
	return nil
}

const verifyBatch = 4096

// verifyParallel decodes (and so signature-checks) a batch on all cores,
// with batch verification.
func verifyParallel(batch []*storedEntry) {
	raws := make([][]byte, 0, len(batch))
	at := make([]*storedEntry, 0, len(batch))
	for _, e := range batch {
		raw, err := storedRaw(e.value, e.id)
		if err != nil {
			e.err = err
			continue
		}
		raws = append(raws, raw)
		at = append(at, e)
	}
	evs, errs := decodeBatch(raws, true) // the scan copied the values: ours to keep
	for i, e := range at {
		if errs[i] != nil {
			e.err = fmt.Errorf("event %s: %w", e.id, errs[i])
			continue
		}
		e.ev = evs[i]
		e.ev.Seq = binary.BigEndian.Uint64(e.value)
	}
}
