package chat

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// privRoom is what this node holds of one private room's keys: the
// chains of the epochs it was sealed into, and the plaintext of our own
// ciphertexts between sealing and storing. Chains live in memory once
// loaded and on disk under the data key (privkeys.go).
type privRoom struct {
	id string

	mu     sync.Mutex
	chains map[ledger.ID]map[peer.ID]*e2ee.Chain // by epoch, loaded
	topics map[ledger.ID]e2ee.EpochTopic         // by epoch, loaded (privtopic.go)
	name   string
	// own maps the hash of a ciphertext we sealed to its plaintext, until
	// the ledger's check of our event stores it under the event's ID.
	own map[[32]byte]plainRecord
	// send serialises our seals, so that chain state is persisted in
	// index order.
	send sync.Mutex
	// rekey serialises our membership changes and rekeys, so that a
	// removal's own rekey and the stale-epoch check (rekeyIfStale) do not
	// both start an epoch.
	rekey sync.Mutex
}

// plainRecord is a decrypted enc event as kept on disk.
type plainRecord struct {
	Kind string `json:"k"`
	Body []byte `json:"b"`
}

// privRoom returns room's key state (creating it empty).
func (s *Service) privRoom(room string) *privRoom {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.privs[room]
	if p == nil {
		p = &privRoom{id: room, chains: map[ledger.ID]map[peer.ID]*e2ee.Chain{}, topics: map[ledger.ID]e2ee.EpochTopic{},
			own: map[[32]byte]plainRecord{}}
		s.privs[room] = p
	}
	return p
}

// chainsOf returns the chains of epoch held here (memory, else disk), or
// nil when this node was never sealed into it. p.mu is held.
func (s *Service) chainsOf(ctx context.Context, p *privRoom, epoch ledger.ID) (map[peer.ID]*e2ee.Chain, error) {
	if cs, ok := p.chains[epoch]; ok {
		return cs, nil
	}
	res, err := s.store.Query(ctx, query.Query{Prefix: chainPrefix(p.id, epoch).String()})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var cs map[peer.ID]*e2ee.Chain
	ep := e2ee.Epoch{Room: p.id, ID: []byte(epoch)}
	for r := range res.Next() {
		if r.Error != nil {
			return nil, r.Error
		}
		k := ds.RawKey(r.Key)
		author, err := peer.Decode(k.BaseNamespace())
		if err != nil {
			return nil, fmt.Errorf("chain record %s: %w", k, err)
		}
		state, err := openLocal(s.cfg.Keys.DataKey(), k, r.Value)
		if err != nil {
			return nil, fmt.Errorf("chain record %s: %w", k, err)
		}
		c, err := e2ee.RestoreChain(ep, author, state)
		clear(state)
		if err != nil {
			return nil, fmt.Errorf("chain record %s: %w", k, err)
		}
		if cs == nil {
			cs = map[peer.ID]*e2ee.Chain{}
		}
		cs[author] = c
	}
	if cs != nil {
		p.chains[epoch] = cs
	}
	return cs, nil
}

// putChain writes c's state (not synced). p.mu is held.
func (s *Service) putChain(ctx context.Context, room string, epoch ledger.ID, author peer.ID, c *e2ee.Chain) error {
	state, err := c.MarshalState()
	if err != nil {
		return err
	}
	k := chainPrefix(room, epoch).ChildString(author.String())
	v, err := sealLocal(s.cfg.Keys.DataKey(), k, state)
	clear(state)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, k, v)
}

// putPlain writes the plaintext of event id (not synced).
func (s *Service) putPlain(ctx context.Context, room string, id ledger.ID, rec plainRecord) error {
	b, _ := json.Marshal(rec)
	k := plainKey(room, id)
	v, err := sealLocal(s.cfg.Keys.DataKey(), k, b)
	clear(b)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, k, v)
}

// plain returns the stored plaintext of enc event id, if this node
// decrypted it.
func (s *Service) plain(ctx context.Context, room string, id ledger.ID) (plainRecord, bool) {
	if s.cfg.Keys == nil {
		return plainRecord{}, false
	}
	k := plainKey(room, id)
	v, err := s.store.Get(ctx, k)
	if err != nil {
		return plainRecord{}, false
	}
	b, err := openLocal(s.cfg.Keys.DataKey(), k, v)
	if err != nil {
		s.log.Warn("stored plaintext does not open", "room", room, "event", id, "err", err)
		return plainRecord{}, false
	}
	var rec plainRecord
	if json.Unmarshal(b, &rec) != nil {
		return plainRecord{}, false
	}
	return rec, true
}

// checkPrivate is the member's side of the ledger's Check for a private
// room's event already judged by moderation: it opens epoch secrets
// sealed to us, and decrypts each enc event once, before it is stored,
// so that a ciphertext that does not open under its signer's chain
// (tampered, re-signed by another member, a replayed index) is refused
// and nothing of it is stored. Non-members store ciphertext they cannot
// judge, and show none of it.
func (s *Service) checkPrivate(mr *modRoom, ev *ledger.Event) error {
	if s.cfg.Keys == nil {
		return nil
	}
	switch ev.Kind {
	case KindEpochKeys:
		s.openEpochKeys(mr, ev)
		return nil
	case KindEnc:
	default:
		return nil
	}
	ctx := s.ctx
	p := s.privRoom(ev.Room)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Author == s.self {
		h := sha256.Sum256(ev.Body)
		if rec, ok := p.own[h]; ok {
			delete(p.own, h)
			return s.keepPlain(ctx, p, ev, rec)
		}
		// Ours from before a restart (its plaintext kept then, or lost
		// with its erased key: shown nowhere).
		return nil
	}
	ct, err := e2ee.ParseCiphertext(ev.Body)
	if err != nil {
		return err // judge parsed it already
	}
	epoch := ledger.ID(ct.Epoch)
	members, _ := mr.epochMembers(epoch)
	if !containsPeer(members, s.self) {
		return nil // not ours to read
	}
	cs, err := s.chainsOf(ctx, p, epoch)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if cs == nil {
		if s.decryptedBefore(ctx, ev) || s.epochErased(ctx, ev.Room, epoch) {
			// Keys erased (priverase.go): valid, stored, shown nowhere.
			return nil
		}
		// A member without the epoch's keys yet: refuse for now, sync
		// brings the event again once they are stored.
		return fmt.Errorf("%w: %s", ErrNoEpochKeys, epoch)
	}
	c := cs[ev.Author]
	if c == nil {
		return fmt.Errorf("%w: %s has no chain in epoch %s", ErrNotAllowed, ev.Author, epoch)
	}
	m, err := c.Open(ct)
	if err != nil {
		if s.decryptedBefore(ctx, ev) {
			return nil // its index is used: by this event (checked again)
		}
		return fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	// Plaintext first: a crash that keeps only a prefix of these writes
	// then leaves a plaintext without the chain's advance (the event is
	// found decrypted when it comes again), never the reverse (an advance
	// that refuses the event as a replay).
	if err := s.keepPlain(ctx, p, ev, plainRecord{Kind: m.Kind, Body: m.Body}); err != nil {
		return err
	}
	if err := s.putChain(ctx, ev.Room, epoch, ev.Author, c); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

// decryptedBefore reports whether ev's plaintext is kept: an event
// judged again (sync brought it after a crash lost its commit, or a
// refusal) whose index its chain has used. Asked only when the chain
// refuses the event, so a new message costs no datastore read for it.
func (s *Service) decryptedBefore(ctx context.Context, ev *ledger.Event) bool {
	_, ok := s.plain(ctx, ev.Room, ev.ID())
	return ok
}

// keepPlain stores rec as ev's plaintext. It is not synced here: chat
// and the ledger share one datastore, and the ledger syncs ev's commit
// right after this Check, which makes this write (and the receiving
// chain's state written after it) durable with the event. p.mu is held.
func (s *Service) keepPlain(ctx context.Context, p *privRoom, ev *ledger.Event, rec plainRecord) error {
	if err := s.putPlain(ctx, ev.Room, ev.ID(), rec); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if rec.Kind == innerName {
		p.name = string(rec.Body)
		// Named under each epoch: the newest decrypted name stands.
		k := privPrefix.ChildString(ev.Room).ChildString("name")
		if v, err := sealLocal(s.cfg.Keys.DataKey(), k, rec.Body); err == nil {
			_ = s.store.Put(ctx, k, v)
		}
	}
	return nil
}

// openEpochKeys opens the epoch secret an epoch_keys event seals to us,
// derives every member's chain and the epoch's topic and rendezvous
// (privtopic.go), stores them and erases the secret. A seal
// that does not open is logged, not refused: it hurts only us.
func (s *Service) openEpochKeys(mr *modRoom, ev *ledger.Event) {
	k, err := decodeEpochKeys(ev.Body)
	if err != nil {
		return
	}
	var mine *sealEntry
	for i := range k.Seals {
		if k.Seals[i].Peer == s.self {
			mine = &k.Seals[i]
		}
	}
	if mine == nil {
		return
	}
	members, ok := mr.epochMembers(k.Epoch)
	if !ok {
		return
	}
	p := s.privRoom(ev.Room)
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx := s.ctx
	if cs, err := s.chainsOf(ctx, p, k.Epoch); err != nil || cs != nil || s.epochErased(ctx, ev.Room, k.Epoch) {
		return // opened before, or its chains erased
	}
	if mine.DMInit != nil {
		s.openEpochKeysDM(ctx, p, ev, mine)
		return
	}
	kp, own, err := s.cfg.Keys.OwnKeyPair([e2ee.HashSize]byte(mine.Bundle))
	if err != nil {
		s.log.Warn("epoch secret sealed to a bundle of ours no longer held", "room", ev.Room, "epoch", k.Epoch, "err", err)
		return
	}
	ep := e2ee.Epoch{Room: ev.Room, ID: []byte(k.Epoch)}
	secret, err := e2ee.OpenEpochSecret(kp, own, ep, mine.Sealed)
	if err != nil {
		s.log.Warn("epoch secret does not open", "room", ev.Room, "epoch", k.Epoch, "err", err)
		return
	}
	defer clear(secret)
	cs := make(map[peer.ID]*e2ee.Chain, len(members))
	for _, m := range members {
		ck, err := e2ee.ChainKey(secret, ep, m)
		if err != nil {
			return
		}
		c, err := e2ee.NewChain(ep, m, ck)
		clear(ck)
		if err != nil {
			return
		}
		cs[m] = c
		if err := s.putChain(ctx, ev.Room, k.Epoch, m, c); err != nil {
			s.log.Warn("store chain", "room", ev.Room, "err", err)
			return
		}
	}
	if err := s.putEpochTopic(ctx, p, ep, secret); err != nil {
		s.log.Warn("store epoch topic", "room", ev.Room, "err", err)
		return
	}
	if err := s.store.Sync(ctx, privPrefix.ChildString(ev.Room)); err != nil {
		s.log.Warn("sync chains", "room", ev.Room, "err", err)
		return
	}
	p.chains[k.Epoch] = cs
}

func containsPeer(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// sealOwn encrypts (kind, body) under our chain in room's current epoch
// and writes the chain's next index. The caller appends the ciphertext
// as an enc event at once: the ledger's fsync of that event (one
// datastore, one log) makes the index durable before the event is
// published (onApplied holds enc events back until it), so a crash never
// reuses an index anyone has seen, and a message costs one fsync.
func (s *Service) sealOwn(ctx context.Context, mr *modRoom, room, kind string, body []byte) ([]byte, error) {
	epoch, members, _ := mr.currentEpoch()
	if epoch == "" || !containsPeer(members, s.self) {
		return nil, fmt.Errorf("%w: %s", ErrNoEpochKeys, room)
	}
	p := s.privRoom(room)
	p.mu.Lock()
	defer p.mu.Unlock()
	cs, err := s.chainsOf(ctx, p, epoch)
	if err != nil {
		return nil, storeErr(err)
	}
	c := cs[s.self]
	if c == nil {
		return nil, fmt.Errorf("%w: %s (keys of epoch %s not received yet)", ErrNoEpochKeys, room, epoch)
	}
	ct, err := c.Seal(kind, body)
	if err != nil {
		return nil, err
	}
	if err := s.putChain(ctx, room, epoch, s.self, c); err != nil {
		return nil, storeErr(err)
	}
	p.own[sha256.Sum256(ct)] = plainRecord{Kind: kind, Body: body}
	return ct, nil
}

// sendPrivate seals and appends one enc event of ours.
func (s *Service) sendPrivate(ctx context.Context, mr *modRoom, room, kind string, body []byte) (*ledger.Event, error) {
	p := s.privRoom(room)
	p.send.Lock()
	defer p.send.Unlock()
	ct, err := s.sealOwn(ctx, mr, room, kind, body)
	if err != nil {
		return nil, err
	}
	ev, err := s.append(ctx, room, KindEnc, ct)
	if err != nil {
		p.mu.Lock()
		delete(p.own, sha256.Sum256(ct))
		p.mu.Unlock()
		if errors.Is(err, ErrNotAllowed) {
			// A new epoch arrived between seal and append: its index is
			// spent, nothing was stored.
			return nil, fmt.Errorf("%w: %w", ErrNoEpochKeys, err)
		}
		return nil, err
	}
	return ev, nil
}

// privateMessage is the Message of enc event ev if this node decrypted it
// and it is a message; ok false otherwise (shown nowhere).
func (s *Service) privateMessage(ev *ledger.Event, name string) (Message, bool) {
	rec, ok := s.plain(s.ctx, ev.Room, ev.ID())
	if !ok || rec.Kind != innerMsg {
		return Message{}, false
	}
	var b msgBody
	if err := json.Unmarshal(rec.Body, &b); err != nil || b.Text == "" {
		return Message{}, false
	}
	return message(ev, name, b.Text), true
}

// show turns a stored event into the Message apps see, decrypted for a
// private room; ok is false for what is not a message or not readable.
func (s *Service) show(ev *ledger.Event) (Message, bool) {
	if ev.Kind == KindEnc {
		return s.privateMessage(ev, s.name(ev.Author))
	}
	return toMessage(ev, s.name(ev.Author))
}

// roomName returns a private room's name as decrypted here ("" unknown).
func (s *Service) roomName(ctx context.Context, room string) string {
	p := s.privRoom(room)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name == "" && s.cfg.Keys != nil {
		k := privPrefix.ChildString(room).ChildString("name")
		if v, err := s.store.Get(ctx, k); err == nil {
			if b, err := openLocal(s.cfg.Keys.DataKey(), k, v); err == nil {
				p.name = string(b)
			}
		}
	}
	return p.name
}
