package chat

import (
	"context"
	"encoding/json"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// A private room meets on a gossip topic and a DHT rendezvous of its
// current key epoch (docs/PROTOCOL.md "Private room topics"): both derive
// from the epoch secret (e2ee.DeriveTopic), so the topic names that
// gossipsub announces to every connected peer, and the provider records
// in the DHT, say nothing of the room and change with each epoch. A
// member derives them when it opens the epoch secret (openEpochKeys) and
// keeps them, under the data key, beside the epoch's chains:
//
//	/private/<room>/topic/<epoch ID>   the epoch's e2ee.EpochTopic (JSON)
//
// Each epoch's topic admits that epoch's members (epochRule): an
// immutable set, because the rule runs on pubsub's event loop, where
// taking the room's moderation lock could stall every topic. roomtopic.go
// moves a room from one epoch's topic to the next.

// memberSet is an immutable set of peers admitted to a private topic.
type memberSet map[peer.ID]struct{}

// epochRule is the topic rule of one epoch's topic: p is one of the
// epoch's members, fixed for the topic's life (as p2p wants). A member
// removed in the epoch stays admitted on it, so that it hears of its
// removal (the kick is published there) until the others leave the topic
// after the grace period; it cannot find the next epoch's topic.
func (r *modRoom) epochRule(members []peer.ID) func(peer.ID) bool {
	set := make(memberSet, len(members))
	for _, p := range members {
		set[p] = struct{}{}
	}
	return func(p peer.ID) bool {
		_, ok := set[p]
		return ok
	}
}

func topicKey(room string, epoch ledger.ID) ds.Key {
	return privPrefix.ChildString(room).ChildString("topic").ChildString(epoch.String())
}

// putEpochTopic derives epoch's topic and rendezvous from its secret and
// stores them (not synced: openEpochKeys syncs the room's records).
// p.mu is held.
func (s *Service) putEpochTopic(ctx context.Context, p *privRoom, ep e2ee.Epoch, secret []byte) error {
	et, err := e2ee.DeriveTopic(secret, ep)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(et)
	epoch := ledger.ID(ep.ID)
	k := topicKey(p.id, epoch)
	v, err := sealLocal(s.cfg.Keys.DataKey(), k, b)
	if err != nil {
		return err
	}
	if err := s.store.Put(ctx, k, v); err != nil {
		return err
	}
	p.topics[epoch] = et
	return nil
}

// epochTopic returns the stored topic and rendezvous of room's epoch, if
// this node opened its secret.
func (s *Service) epochTopic(ctx context.Context, room string, epoch ledger.ID) (e2ee.EpochTopic, bool) {
	if s.cfg.Keys == nil {
		return e2ee.EpochTopic{}, false
	}
	p := s.privRoom(room)
	p.mu.Lock()
	defer p.mu.Unlock()
	if et, ok := p.topics[epoch]; ok {
		return et, true
	}
	k := topicKey(room, epoch)
	v, err := s.store.Get(ctx, k)
	if err != nil {
		return e2ee.EpochTopic{}, false
	}
	b, err := openLocal(s.cfg.Keys.DataKey(), k, v)
	if err != nil {
		s.log.Warn("stored epoch topic does not open", "room", room, "epoch", epoch, "err", err)
		return e2ee.EpochTopic{}, false
	}
	var et e2ee.EpochTopic
	if json.Unmarshal(b, &et) != nil || !e2ee.IsTopic(et.Topic) {
		return e2ee.EpochTopic{}, false
	}
	p.topics[epoch] = et
	return et, true
}

// forgetEpochTopic erases epoch's topic record (with its chains, once
// the epoch has ended long enough). p.mu is held.
func (s *Service) forgetEpochTopic(ctx context.Context, p *privRoom, epoch ledger.ID) error {
	delete(p.topics, epoch)
	if err := s.store.Delete(ctx, topicKey(p.id, epoch)); err != nil && err != ds.ErrNotFound {
		return err
	}
	return nil
}

// RoomOfTopic returns the room whose gossip topic is topic: a public or
// moderated room's by its name, a private room's epoch topic while this
// node is on it. The node uses it to start a sync with a peer that joins
// one of our topics.
func (s *Service) RoomOfTopic(topic string) (string, bool) {
	if id, ok := strings.CutPrefix(topic, TopicName("")); ok {
		return id, id != ""
	}
	v, ok := s.topicRooms.Load(topic)
	if !ok {
		return "", false
	}
	return v.(string), true
}
