package ledgersync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// handle serves one session opened by a peer.
func (s *Syncer) handle(str network.Stream) {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		_ = str.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	p := str.Conn().RemotePeer()
	if s.isBlocked(p) {
		_ = str.Reset()
		return
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		_ = str.ResetWithError(network.StreamResourceLimitExceeded)
		return
	}
	c := newConn(str, s.cfg.Timeout)
	c.total = &s.received
	defer c.release()
	select {
	case s.inbound <- struct{}{}:
		defer func() { <-s.inbound }()
	default:
		c.sendErr(codeBusy, "too many sync sessions")
		_ = str.Close()
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SessionTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stop()

	room, lacks, err := s.serve(ctx, c, p)
	switch {
	case err == nil:
		_ = str.Close()
	case errors.Is(err, ErrMisbehaving):
		c.sendErr(codeProtocol, err.Error())
		_ = str.Reset()
		s.misbehaved(p, err)
	case errors.Is(err, ErrRoomUnknown), errors.Is(err, ErrBusy), errors.Is(err, ErrLimit):
		_ = str.Close() // after an Error frame the peer should read
	default:
		_ = str.Reset()
		if !errors.Is(err, ErrRoomUnknown) && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
			s.log.Debug("serving sync failed", "room", room, "peer", p, "err", err)
		}
	}
	if s.cfg.OnSession != nil {
		s.cfg.OnSession(false, Stats{BytesSent: int(c.written), BytesReceived: int(c.read.Load())}, err)
	}
	if lacks && err == nil && !s.cfg.Manual {
		s.Trigger(room, p) // the peer has events we lack
	}
}

// serve runs the responder's side of a session. It returns the room, and
// whether the peer showed it holds events we lack.
func (s *Syncer) serve(ctx context.Context, c *conn, p peer.ID) (string, bool, error) {
	f, err := c.next()
	if err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, ErrFrameTooLarge) {
			return "", false, fmt.Errorf("%w: %v", ErrMisbehaving, err)
		}
		return "", false, err
	}
	if f.typ != frameHello {
		return "", false, fmt.Errorf("%w: first frame has type %d, want hello", ErrMisbehaving, f.typ)
	}
	room := f.room
	// A peer refused by Config.Allow gets the very answer of an unjoined
	// room, on the same path (no ledger read either way), so that neither
	// the bytes nor the timing say the room is here.
	if ok, err := s.joined(ctx, room); err != nil || !ok || !s.allowed(room, p) {
		c.sendErr(codeRoomUnknown, "room not joined")
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrRoomUnknown, room)
		}
		return room, false, err
	}
	t := task{room, p}
	s.mu.Lock()
	if s.serving[t] {
		s.mu.Unlock()
		c.sendErr(codeBusy, "a session for this room is running")
		return room, false, fmt.Errorf("%w: serving %s to %s", ErrBusy, room, p)
	}
	s.serving[t] = true
	s.statusOf(room).Sessions++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.serving, t)
		s.mu.Unlock()
	}()

	led := s.store.Ledger()
	sum, err := led.Summary(ctx, room)
	if err != nil {
		c.sendErr(codeInternal, "ledger unavailable")
		return room, false, err
	}
	if toFP(sum.Fingerprint, c.v1) == f.fp {
		if err := c.send(&frame{typ: frameEnd}); err != nil {
			return room, false, err
		}
		return room, false, s.finish(c)
	}
	ks, release, err := s.snapshot(ctx, room, sum.Fingerprint)
	if err != nil {
		c.sendErr(codeInternal, "ledger unavailable")
		return room, false, err
	}
	defer release()
	rc := &recon{ks: ks, branch: s.cfg.Branch, threshold: s.cfg.ListThreshold, budget: MaxItemsPerRound / 2, v1: c.v1}
	// Each frame of the requester's message is answered as it arrives and
	// then dropped, so a round costs the responder one frame and its
	// answer (range items over its own keys, the keys to send: at most the
	// room, since a round's ranges must be sorted and disjoint), not the
	// requester's items (up to 8,192 × 256 keys).
	r := &round{}
	rc.respond([]item{{lo: minBound, hi: maxBound, mode: modeFingerprint, fp: f.fp}}, r)
	lacks := false
	sent := 0
	for rounds := 1; ; rounds++ {
		if rounds > MaxRounds {
			return room, lacks, fmt.Errorf("%w: more than %d rounds", ErrMisbehaving, MaxRounds)
		}
		rc.endRound(r)
		lacks = lacks || r.lacks
		if err := c.sendItems(r.out); err != nil {
			return room, lacks, err
		}
		if err := s.sendEvents(ctx, c, room, rc, r.send, &sent); err != nil {
			return room, lacks, err
		}
		if err := c.send(&frame{typ: frameEnd}); err != nil {
			return room, lacks, err
		}
		if err := c.flush(); err != nil {
			return room, lacks, err
		}
		// The requester's next message, or the end of the session.
		r = &round{}
		var last bound // end of the round's last range so far
		items, wants, got := 0, 0, false
		for done := false; !done; {
			f, err := c.next()
			switch {
			case errors.Is(err, io.EOF) && !got:
				return room, lacks, nil
			case errors.Is(err, errMalformed), errors.Is(err, ErrFrameTooLarge):
				return room, lacks, fmt.Errorf("%w: %v", ErrMisbehaving, err)
			case errors.Is(err, ErrLimit): // no memory reserved for the frame
				c.sendErr(codeLimit, "resource limit")
				return room, lacks, err
			case err != nil:
				return room, lacks, err
			}
			got = true
			switch f.typ {
			case frameEnd:
				done = true
			case frameRanges:
				if items += len(f.items); items > MaxItemsPerRound {
					return room, lacks, fmt.Errorf("%w: more than %d ranges in a round", ErrMisbehaving, MaxItemsPerRound)
				}
				if len(f.items) == 0 {
					continue
				}
				if cmpBound(last, f.items[0].lo) > 0 {
					return room, lacks, fmt.Errorf("%w: ranges of a round overlap or are not sorted", ErrMisbehaving)
				}
				last = f.items[len(f.items)-1].hi
				rc.respond(f.items, r)
			case frameWant:
				if wants += len(f.want); wants > MaxWantPerRound {
					return room, lacks, fmt.Errorf("%w: more than %d wanted in a round", ErrMisbehaving, MaxWantPerRound)
				}
				for _, id := range f.want {
					if k, err := led.KeyOf(ctx, room, id); err == nil {
						r.send = append(r.send, k)
					}
				}
			case frameError:
				return room, lacks, peerError(f)
			default:
				return room, lacks, fmt.Errorf("%w: unexpected frame type %d", ErrMisbehaving, f.typ)
			}
		}
	}
}

// finish flushes and waits for the requester to close its side.
func (s *Syncer) finish(c *conn) error {
	if err := c.flush(); err != nil {
		return err
	}
	f, err := c.next()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: frame type %d after the session ended", ErrMisbehaving, f.typ)
}

// sendEvents streams the events at keys, in (Lamport, ID) order so parents
// come first, in frames of at most MaxBatch events and about 1 MiB. When
// the keys are most of rc's keys in their span (a catch-up), the events are
// read in one scan of the ledger's order index, else one by one.
func (s *Syncer) sendEvents(ctx context.Context, c *conn, room string, rc *recon, keys []ledger.Key, sent *int) error {
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, ledger.Key.Compare)
	keys = slices.Compact(keys)
	led := s.store.Ledger()
	batch := make([][]byte, 0, s.cfg.MaxBatch)
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.send(&frame{typ: frameEvents, events: batch})
		batch, size = batch[:0], 0
		return err
	}
	// put adds one event; it ends the round's events at a session limit.
	put := func(raw []byte) error {
		if *sent >= s.cfg.MaxEventsPerSession || c.written >= s.cfg.MaxBytesPerSession {
			if err := flush(); err != nil {
				return err
			}
			c.sendErr(codeLimit, "session limit reached")
			return fmt.Errorf("%w: sent %d events", ErrLimit, *sent)
		}
		if len(batch) == s.cfg.MaxBatch || size+len(raw) > packSize {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, raw)
		size += len(raw)
		*sent++
		return nil
	}
	if scanWorthIt(rc, keys) {
		next := 0 // keys[next] is the first key not yet passed
		err := led.RawRange(ctx, room, keys[0].Lamport, keys[len(keys)-1].Lamport, func(k ledger.Key, raw []byte) (bool, error) {
			for next < len(keys) && keys[next].Compare(k) < 0 {
				next++ // gone from the ledger: skip it, as RawAt would
			}
			if next == len(keys) {
				return false, nil
			}
			if keys[next] != k {
				return true, nil
			}
			next++
			return next < len(keys), put(raw)
		})
		if err != nil && !errors.Is(err, ErrLimit) {
			c.sendErr(codeInternal, "ledger unavailable")
		}
		if err != nil {
			return err
		}
		return flush()
	}
	for _, k := range keys {
		raw, err := led.RawAt(ctx, room, k)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			c.sendErr(codeInternal, "ledger unavailable")
			return err
		}
		if err := put(raw); err != nil {
			return err
		}
	}
	return flush()
}

// minScan is the fewest events worth a scan of the order index.
const minScan = 64

// scanWorthIt reports whether reading sorted keys in one scan of their span
// beats one read per key: there are many, and they are at least half of
// the snapshot's keys in that span.
func scanWorthIt(rc *recon, keys []ledger.Key) bool {
	if len(keys) < minScan {
		return false
	}
	first, last := keys[0], keys[len(keys)-1]
	i := rc.ks.Search(func(k ledger.Key) bool { return k.Compare(first) >= 0 })
	j := rc.ks.Search(func(k ledger.Key) bool { return k.Compare(last) > 0 })
	return 2*len(keys) >= j-i
}
