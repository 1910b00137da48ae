package chat

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/parley-chat/parley/ledger"
)

// Forward secrecy of ended epochs: once a room's global state has moved
// to a later epoch, this node notes when it first saw that (an ended
// record), and Config.EpochKeyRetention later erases the epoch's chain
// states, on disk and in memory. Late events of an erased epoch are
// stored (they are valid) and shown nowhere, like those of an epoch we
// were never sealed into. Plaintext already decrypted stays: it is kept
// under the data key, and forward secrecy here means erased chain keys.
//
// The time is our own clock's, not the successor's claimed time, so a
// backdated epoch event cannot erase keys early.

// sweepInterval is how often ended epochs are checked between starts.
const sweepInterval = time.Hour

// endedKey holds when this node first saw epoch succeeded (Unix ns).
func endedKey(room string, epoch ledger.ID) ds.Key {
	return privPrefix.ChildString(room).ChildString("ended").ChildString(epoch.String())
}

// sweepEpochsLoop sweeps at start and every sweepInterval until Close,
// and rekeys the due direct conversations we created (dmrekey.go).
func (s *Service) sweepEpochsLoop() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		s.sweepEpochs(s.ctx)
		s.rekeyDueDMs(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepEpochs records newly ended epochs of every private room and erases
// the chain states of those ended longer than EpochKeyRetention ago.
func (s *Service) sweepEpochs(ctx context.Context) {
	if s.cfg.Keys == nil {
		return
	}
	s.mu.Lock()
	mrs := make([]*modRoom, 0, len(s.mods))
	for _, mr := range s.mods {
		mrs = append(mrs, mr)
	}
	s.mu.Unlock()
	now := s.cfg.Clock()
	for _, mr := range mrs {
		if !mr.isPrivate() {
			continue
		}
		for _, epoch := range mr.endedEpochs() {
			if err := s.sweepEpoch(ctx, mr.id, epoch, now); err != nil && ctx.Err() == nil {
				s.log.Warn("erase ended epoch", "room", mr.id, "epoch", epoch, "err", err)
			}
		}
	}
}

// sweepEpoch records epoch as ended now if it is not yet, else erases its
// chains once the retention has passed.
func (s *Service) sweepEpoch(ctx context.Context, room string, epoch ledger.ID, now time.Time) error {
	k := endedKey(room, epoch)
	since, err := s.endedSince(ctx, room, epoch)
	if errors.Is(err, ds.ErrNotFound) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(now.UnixNano()))
		return s.store.Put(ctx, k, b[:])
	}
	if err != nil || now.Sub(since) < s.cfg.EpochKeyRetention {
		return err
	}
	p := s.privRoom(room)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.chains[epoch] {
		c.Erase()
	}
	delete(p.chains, epoch)
	if err := s.forgetEpochTopic(ctx, p, epoch); err != nil {
		return err
	}
	res, err := s.store.Query(ctx, query.Query{Prefix: chainPrefix(room, epoch).String(), KeysOnly: true})
	if err != nil {
		return err
	}
	rs, err := res.Rest()
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return nil // erased before, or never held
	}
	for _, r := range rs {
		if err := s.store.Delete(ctx, ds.RawKey(r.Key)); err != nil {
			return err
		}
	}
	return s.store.Sync(ctx, privPrefix.ChildString(room))
}

// endedSince returns when this node first saw epoch succeeded
// (ds.ErrNotFound while it has not).
func (s *Service) endedSince(ctx context.Context, room string, epoch ledger.ID) (time.Time, error) {
	v, err := s.store.Get(ctx, endedKey(room, epoch))
	if err != nil {
		return time.Time{}, err
	}
	if len(v) != 8 {
		return time.Time{}, errors.New("ended record: bad length")
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// epochErased reports whether epoch's chains are past their retention
// (erased, or about to be by the next sweep). p.mu may be held.
func (s *Service) epochErased(ctx context.Context, room string, epoch ledger.ID) bool {
	since, err := s.endedSince(ctx, room, epoch)
	return err == nil && s.cfg.Clock().Sub(since) >= s.cfg.EpochKeyRetention
}

// endedEpochs returns the stored epochs other than the current winner.
func (r *modRoom) endedEpochs() []ledger.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var eps []*modEvent
	for _, m := range r.stored {
		if m.act.op == opEpoch {
			eps = append(eps, m)
		}
	}
	w := winner(eps)
	var out []ledger.ID
	for _, e := range eps {
		if e != w {
			out = append(out, e.id)
		}
	}
	return out
}
