package node_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// A raw libp2p peer gossips pre-signed roots, each from a fresh identity,
// at a fixed rate (issue 18's cheapest spam). The node stores no more of
// them than its room's newcomer budget admits (chat.Limits.NewcomerBurst
// plus NewcomerRate per second), ignores the rest without penalising
// the peer, and its own next message takes none of them as parents.
func TestSpamRootsHeldToNewcomerBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const rate, total = 400, 2400 // events/s, above the per-peer limit
	b := startNode(t, "")
	ctx := t.Context()
	room, err := b.Chat().Join(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Chat().Send(ctx, "general", "before"); err != nil {
		t.Fatal(err)
	}
	spam := make([][]byte, total)
	isSpam := make(map[ledger.ID]bool, total)
	for i := range spam {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"spam %d"}`, i), Time: time.Now(), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		spam[i], isSpam[ev.ID()] = ev.Raw(), true
	}
	attackerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	topic := rawRoomPeer(t, b, room.ID, attackerKey)
	before, _ := b.Chat().Ledger().Count(ctx, room.ID)
	start := time.Now()
	tick := time.NewTicker(time.Second / rate)
	for _, raw := range spam {
		<-tick.C
		if err := topic.Publish(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	elapsed := time.Since(start)

	lim := chat.DefaultLimits()
	bound := uint64(lim.NewcomerBurst) + uint64(lim.NewcomerRate*(elapsed.Seconds()+1))
	// The ingest worker is done once the count stops growing.
	var stored uint64
	testwait.ForEvery(t, 300*time.Millisecond, 10*time.Second, "the node's count to settle", func() bool {
		after, _ := b.Chat().Ledger().Count(ctx, room.ID)
		settled := after-before == stored && stored > 0
		stored = after - before
		return settled
	})
	t.Logf("attacker published %d roots from fresh identities in %v; node stored %d (budget bound %d)", total, elapsed.Round(time.Millisecond), stored, bound)
	if stored > bound {
		t.Fatalf("stored %d spam roots, budget bound %d", stored, bound)
	}
	if len(topic.ListPeers()) == 0 {
		t.Fatal("the node dropped the attacker: over-budget gossip must be ignored, not penalised")
	}
	msg, err := b.Chat().Send(ctx, "general", "after")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := b.Chat().Ledger().Get(ctx, room.ID, mustParse(t, msg.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ev.Parents {
		if isSpam[p] {
			t.Fatalf("our message took spam root %s as a parent", p)
		}
	}
	if len(ev.Parents) == 0 {
		t.Fatal("our message became a root: it should follow our earlier one")
	}
}

func mustParse(t *testing.T, s string) ledger.ID {
	t.Helper()
	id, err := ledger.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
