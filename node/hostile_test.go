package node_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// A raw libp2p peer (not a Parley node) publishes garbage, a badly signed
// event and an event for another room on a room's topic: nothing is
// stored, nothing crashes, and a valid event it sends afterwards still
// gets in (so the bad ones did reach the validator).
func TestRawPeerGarbageRejected(t *testing.T) {
	n := startNode(t, "")
	ctx := t.Context()
	room, err := n.Chat().Join(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}

	if err := n.Connect(ctx, ""); err == nil {
		t.Fatal("connect to empty address succeeded")
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	topic := rawRoomPeer(t, n, room.ID, key)

	before, _ := n.Chat().Ledger().Count(ctx, room.ID)
	good, _ := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: []byte(`{"text":"legit"}`), Time: time.Now(), Lamport: 1})
	badSig := bytes.Clone(good.Raw())
	badSig[len(badSig)-3] ^= 0xff
	other, _ := ledger.Sign(key, ledger.Draft{Room: "elsewhere", Kind: ledger.KindMsg, Body: []byte(`{"text":"wrong room"}`), Time: time.Now(), Lamport: 1})
	huge := make([]byte, ledger.MaxEventSize+10)
	for _, data := range [][]byte{[]byte("garbage"), {}, badSig, other.Raw(), huge} {
		topic.Publish(ctx, data) // errors are fine: we only care what the node keeps
	}
	if err := topic.Publish(ctx, good.Raw()); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the valid event stored", func() bool {
		return hasText(history(t, n, "general"), "legit")
	})
	after, _ := n.Chat().Ledger().Count(ctx, room.ID)
	if after != before+1 {
		t.Fatalf("ledger grew by %d events, want exactly the valid one", after-before)
	}
	if rep, err := n.Chat().Verify(ctx, ""); err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if rooms, _ := n.Chat().Ledger().Rooms(ctx); len(rooms) != 1 {
		t.Fatalf("a foreign room got into the ledger: %v", rooms)
	}
}

// rawRoomPeer starts a bare libp2p host with gossipsub configured as Parley's
// (no pubsub signatures, message ID = event ID), joins room's topic, has n
// connect to it and waits until n is in the topic. It is the stand-in for
// a hostile peer: whatever it publishes reaches n's validator unfiltered.
func rawRoomPeer(t *testing.T, n *node.Node, room string, key crypto.PrivKey) *pubsub.Topic {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	return rawRoomPeerOn(t, n, room, h)
}

// rawRoomPeerOn is rawRoomPeer on a host built by the caller (a simNet
// host, say), which it closes when the test ends.
func rawRoomPeerOn(t *testing.T, n *node.Node, room string, h host.Host) *pubsub.Topic {
	t.Helper()
	ctx := t.Context()
	t.Cleanup(func() { h.Close() })
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithPeerOutboundQueueSize(4096),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(ledger.ComputeID(m.Data)) }))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(chat.TopicName(room))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ctx, h.Addrs()[0].String()+"/p2p/"+h.ID().String()); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "raw peer in the room's topic", func() bool { return len(topic.ListPeers()) > 0 })
	return topic
}
