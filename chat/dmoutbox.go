package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// The outbox holds the first messages (DMInits) of direct conversations
// whose recipient has not taken them yet: DMSend queues one before it
// tries the hand-over, and it stays until a hand-over succeeds, the
// recipient writes in the conversation, or the recipient's bundle it is
// sealed to expires. The node pushes them again when the recipient
// connects and serves them from its inbox to the recipient alone
// (docs/PROTOCOL.md "Direct messages"). On disk under /dm/outbox/<peer>/<room>,
// sealed under the local data key (who we write to is nobody's business).

// Bounds of the outbox: DMSend refuses a new conversation (wrapping
// ErrRateLimited) while it is full. A DMInit is at most
// e2ee.MaxDMInitSize (~1.4 KB), so the count binds first.
const (
	MaxOutboxDMs   = 256
	MaxOutboxBytes = 1 << 20
	// MaxInboxAnswer bounds the first messages one inbox request gets.
	MaxInboxAnswer = 16
)

var dmOutboxPrefix = ds.NewKey("/dm/outbox")

// PendingDM is a first message waiting in the outbox.
type PendingDM struct {
	To      peer.ID
	Room    string
	Init    []byte // encoded e2ee.DMInit
	Bundle  [e2ee.HashSize]byte
	Expires time.Time // the recipient's bundle's expiry
}

type outboxRecord struct {
	Init    []byte    `json:"init"`
	Expires time.Time `json:"expires"`
}

func outboxKey(to peer.ID, room string) ds.Key {
	return dmOutboxPrefix.ChildString(to.String()).ChildString(room)
}

// queueDM puts a first message in the outbox, durably.
func (s *Service) queueDM(ctx context.Context, to peer.ID, room string, init []byte, expires time.Time) error {
	k := outboxKey(to, room)
	b, _ := json.Marshal(outboxRecord{Init: init, Expires: expires})
	v, err := sealLocal(s.cfg.Keys.DataKey(), k, b)
	if err != nil {
		return err
	}
	if err := s.store.Put(ctx, k, v); err != nil {
		return storeErr(err)
	}
	if err := s.store.Sync(ctx, dmOutboxPrefix); err != nil {
		return storeErr(err)
	}
	return nil
}

// outboxRoom fails (ErrRateLimited) when the outbox cannot take another.
func (s *Service) outboxRoom(ctx context.Context) error {
	all, err := s.PendingDMs(ctx)
	if err != nil {
		return err
	}
	size := 0
	for _, d := range all {
		size += len(d.Init)
	}
	if len(all) >= MaxOutboxDMs || size+e2ee.MaxDMInitSize > MaxOutboxBytes {
		return fmt.Errorf("%w: %d conversations (%d bytes) wait for their recipients", ErrRateLimited, len(all), size)
	}
	return nil
}

// PendingDMs returns the outbox, dropping what expired, what was left,
// and what the recipient has answered (it has an event in the room).
func (s *Service) PendingDMs(ctx context.Context) ([]PendingDM, error) {
	if s.cfg.Keys == nil {
		return nil, nil
	}
	res, err := s.store.Query(ctx, query.Query{Prefix: dmOutboxPrefix.String()})
	if err != nil {
		return nil, storeErr(err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, storeErr(err)
	}
	now := s.cfg.Clock()
	var out []PendingDM
	for _, e := range entries {
		k := ds.RawKey(e.Key)
		d, ok := s.pendingOf(k, e.Value)
		if !ok || !now.Before(d.Expires) || !s.isJoined(d.Room) || s.hasWritten(ctx, d.Room, d.To) {
			_ = s.store.Delete(ctx, k)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// pendingOf decodes an outbox record; ok false if it does not open.
func (s *Service) pendingOf(k ds.Key, v []byte) (PendingDM, bool) {
	to, err := peer.Decode(k.Parent().BaseNamespace())
	if err != nil {
		return PendingDM{}, false
	}
	b, err := openLocal(s.cfg.Keys.DataKey(), k, v)
	if err != nil {
		return PendingDM{}, false
	}
	var rec outboxRecord
	if json.Unmarshal(b, &rec) != nil {
		return PendingDM{}, false
	}
	d, err := e2ee.ParseDMInit(rec.Init)
	if err != nil || d.Recipient != to || d.Epoch.Room != k.BaseNamespace() {
		return PendingDM{}, false
	}
	return PendingDM{To: to, Room: d.Epoch.Room, Init: rec.Init, Bundle: d.BundleHash, Expires: rec.Expires}, true
}

// DMDelivered drops the outbox entry of the conversation room with to.
func (s *Service) DMDelivered(ctx context.Context, to peer.ID, room string) error {
	if err := s.store.Delete(ctx, outboxKey(to, room)); err != nil {
		return storeErr(err)
	}
	return nil
}

// DMInbox returns what the outbox holds for peer to sealed to its bundle
// with hash bundle: at most MaxInboxAnswer encoded DMInits. The node
// answers it to to alone.
func (s *Service) DMInbox(ctx context.Context, to peer.ID, bundle [e2ee.HashSize]byte) ([][]byte, error) {
	all, err := s.PendingDMs(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, d := range all {
		if d.To == to && d.Bundle == bundle && len(out) < MaxInboxAnswer {
			out = append(out, d.Init)
		}
	}
	return out, nil
}
