package ledgersync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Sync runs one session with p for room and stores what p has and we lack.
// It blocks until the session ends: both sides equal for what we pull,
// ctx done, a limit, or an error. On ErrMisbehaving the peer has been
// reported. Stats are valid on error too (what was done so far).
func (s *Syncer) Sync(ctx context.Context, p peer.ID, room string) (Stats, error) {
	t := task{room, p}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return Stats{}, ErrClosed
	}
	if s.outgoing[t] {
		s.mu.Unlock()
		return Stats{}, fmt.Errorf("%w: %s with %s", ErrBusy, room, p)
	}
	s.outgoing[t] = true
	st := s.statusOf(room)
	st.InProgress++
	st.Sessions++
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SessionTimeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	stats, err := s.pull(ctx, p, room)
	stats.Duration = time.Since(start)

	s.mu.Lock()
	delete(s.outgoing, t)
	st.InProgress--
	st.EventsFetched += uint64(stats.EventsStored)
	switch {
	case err == nil:
		st.LastSync, st.LastPeer, st.LastError = time.Now(), p, ""
		s.remember(room, p)
		delete(s.limited, t)
	case errors.Is(err, ErrLimit):
		s.remember(room, p)
		if stats.EventsStored > 0 { // progress: the next stop starts at 1 s again
			delete(s.limited, t)
		}
	case !errors.Is(err, ErrRoomUnknown) && !errors.Is(err, ErrNotAllowed):
		st.LastError = err.Error()
	}
	s.mu.Unlock()
	if errors.Is(err, ErrRoomUnknown) {
		_, _ = s.rooms(s.ctx) // drops the status just made if room is not joined here
	}
	if s.cfg.OnSession != nil {
		s.cfg.OnSession(true, stats, err)
	}
	if err == nil && stats.EventsReceived > 0 {
		s.log.Debug("synced", "room", room, "peer", p, "events", stats.EventsStored, "rounds", stats.Rounds, "took", stats.Duration)
	}
	return stats, err
}

// pull is the requester's side of a session.
func (s *Syncer) pull(ctx context.Context, p peer.ID, room string) (stats Stats, err error) {
	if ok, err := s.joined(ctx, room); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s is not joined here", ErrRoomUnknown, room)
		}
		return stats, err
	}
	if !s.allowed(room, p) { // a Hello names the room: never to a stranger
		return stats, fmt.Errorf("%w: %s for %s", ErrNotAllowed, p, room)
	}
	if s.isBlocked(p) {
		return stats, fmt.Errorf("%w: %s", ErrBlocked, p)
	}
	led := s.store.Ledger()
	sum, err := led.Summary(ctx, room)
	if err != nil {
		return stats, err
	}
	str, err := s.h.NewStream(ctx, p, s.cfg.versions...) // the newest p speaks
	if err != nil {
		return stats, fmt.Errorf("open sync stream: %w", err)
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		_ = str.Reset()
		return stats, fmt.Errorf("%w: sync service: %w", ErrLimit, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stop()
	c := newConn(str, s.cfg.Timeout)
	stopPrefetch := c.prefetch(2)
	ing := newIngester(s.store, room, s.cfg.MaxDeferredBytes, &s.deferred)
	defer func() {
		if rateLimited(err) {
			err = fmt.Errorf("%w: rate-limited by the peer", ErrBusy)
		}
		stored, dropped, ierr := ing.close(context.WithoutCancel(ctx))
		stats.EventsStored += stored
		if err == nil && ierr != nil {
			err = ierr
		}
		if err == nil && dropped > 0 {
			// Not the peer's fault as far as we can tell; the retry backs
			// off (Syncer.retryLimit), so it cannot become a loop.
			err = fmt.Errorf("%w: %d events without parents over the %d-byte budget dropped", ErrLimit, dropped, s.cfg.MaxDeferredBytes)
		}
		if err != nil {
			_ = str.Reset()
		} else {
			_ = str.Close()
		}
		stopPrefetch()
		stats.BytesSent, stats.BytesReceived = int(c.written), int(c.read.Load())
		if errors.Is(err, ErrMisbehaving) {
			s.misbehaved(p, err)
		}
	}()

	hello := &frame{typ: frameHello, room: room, fp: toFP(sum.Fingerprint, c.v1)}
	if err := c.send(hello); err != nil {
		return stats, err
	}
	if err := c.flush(); err != nil {
		return stats, err
	}
	exp := newExpectation([]item{{lo: minBound, hi: maxBound, mode: modeFingerprint, fp: hello.fp}}, nil)
	var rc *recon
	seen := make(map[ledger.ID]bool)
	wanted := make(map[ledger.ID]bool)
	for {
		stats.Rounds++
		if stats.Rounds > MaxRounds {
			return stats, fmt.Errorf("%w: more than %d rounds", ErrMisbehaving, MaxRounds)
		}
		var r round
		var items []item
		for done := false; !done; {
			f, err := c.next()
			switch {
			case errors.Is(err, errMalformed), errors.Is(err, ErrFrameTooLarge):
				return stats, fmt.Errorf("%w: %v", ErrMisbehaving, err)
			case errors.Is(err, io.EOF):
				return stats, fmt.Errorf("sync stream closed early: %w", io.ErrUnexpectedEOF)
			case err != nil:
				return stats, err
			}
			switch f.typ {
			case frameEnd:
				done = true
			case frameError:
				return stats, peerError(f)
			case frameRanges:
				if len(items)+len(f.items) > MaxItemsPerRound {
					return stats, fmt.Errorf("%w: more than %d ranges in a round", ErrMisbehaving, MaxItemsPerRound)
				}
				if len(items) > 0 && len(f.items) > 0 && cmpBound(items[len(items)-1].hi, f.items[0].lo) > 0 {
					return stats, fmt.Errorf("%w: ranges of a round overlap or are not sorted", ErrMisbehaving)
				}
				items = append(items, f.items...)
			case frameEvents:
				// Past a limit, keep the frame's first events (they come
				// parents first) and stop.
				raws, limited := f.events, false
				if room := s.cfg.MaxEventsPerSession - stats.EventsReceived; len(raws) > room {
					raws, limited = raws[:room], true
				}
				if c.read.Load() > s.cfg.MaxBytesPerSession {
					limited = true
				}
				evs, err := s.checkEvents(raws, room, exp, rc, seen)
				if err != nil {
					return stats, err
				}
				stats.EventsReceived += len(evs)
				if err := ing.add(ctx, evs); err != nil {
					return stats, err
				}
				if ing.failed.Load() {
					// The store takes no more (a budget, say): the rest
					// of the round would be verified only to be dropped.
					stored, err := ing.flush(ctx)
					stats.EventsStored += stored
					return stats, err
				}
				if limited {
					return stats, fmt.Errorf("%w: received %d events, %d bytes", ErrLimit, stats.EventsReceived, c.read.Load())
				}
			default:
				return stats, fmt.Errorf("%w: unexpected frame type %d", ErrMisbehaving, f.typ)
			}
		}
		// The round's events are in; store what waited for them.
		stored, err := ing.flush(ctx)
		stats.EventsStored += stored
		if err != nil {
			return stats, err
		}
		if len(items) == 0 {
			return stats, nil
		}
		if rc == nil {
			keys, err := led.Keys(ctx, room, 0, ^uint64(0))
			if err != nil {
				return stats, err
			}
			rc = &recon{ks: ledger.NewKeySet(keys), branch: s.cfg.Branch, threshold: s.cfg.ListThreshold, budget: MaxItemsPerRound / 2, v1: c.v1}
		}
		rc.request(items, &r, wanted)
		rc.endRound(&r)
		if r.violation != "" {
			return stats, fmt.Errorf("%w: %s", ErrMisbehaving, r.violation)
		}
		if len(r.out) == 0 && len(r.want) == 0 {
			return stats, nil
		}
		exp = newExpectation(r.out, r.want)
		if err := c.sendItems(r.out); err != nil {
			return stats, err
		}
		for w := r.want; len(w) > 0; {
			n := min(len(w), packSize/digestLen)
			if err := c.send(&frame{typ: frameWant, want: w[:n]}); err != nil {
				return stats, err
			}
			w = w[n:]
		}
		if err := c.send(&frame{typ: frameEnd}); err != nil {
			return stats, err
		}
		if err := c.flush(); err != nil {
			return stats, err
		}
	}
}

// rateLimited reports whether err is the peer's reset of a stream over its
// rate limit (x/rate): retried like a busy peer, so that an honest
// requester gets through a limit that attackers keep full.
func rateLimited(err error) bool {
	var se *network.StreamError
	return errors.As(err, &se) && se.Remote && se.ErrorCode == network.StreamRateLimited
}

// peerError turns an Error frame into an error.
func peerError(f *frame) error {
	switch f.code {
	case codeRoomUnknown:
		return fmt.Errorf("%w: %s", ErrRoomUnknown, f.msg)
	case codeBusy:
		return fmt.Errorf("%w: %s", ErrBusy, f.msg)
	case codeLimit:
		return fmt.Errorf("%w: peer: %s", ErrLimit, f.msg)
	}
	return fmt.Errorf("sync refused by peer (code %d): %s", f.code, f.msg)
}

// checkEvents verifies a frame's events in parallel and checks that each is
// for room and was asked for. Any failure fails the whole frame.
func (s *Syncer) checkEvents(raws [][]byte, room string, exp *expectation, rc *recon, seen map[ledger.ID]bool) ([]*ledger.Event, error) {
	evs, err := decodeAll(raws)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMisbehaving, err)
	}
	for _, ev := range evs {
		if ev.Room != room {
			return nil, fmt.Errorf("%w: event %s is for room %q, not %q", ErrMisbehaving, ev.ID(), ev.Room, room)
		}
	}
	marked := make([]ledger.ID, 0, len(evs))
	for _, ev := range evs {
		if !exp.accepts(rc, ledger.Key{Lamport: ev.Lamport, ID: ev.ID()}, seen) {
			for _, id := range marked {
				delete(seen, id)
			}
			return nil, fmt.Errorf("%w: event %s was not requested", ErrMisbehaving, ev.ID())
		}
		marked = append(marked, ev.ID())
	}
	return evs, nil
}
