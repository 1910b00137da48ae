package node_test

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
)

// The inbox answers a holder's queued first messages to their recipient
// alone: a stranger asking with the recipient's bundle hash gets an
// empty answer, and a malformed request is reset unanswered. When the
// recipient connects, the holder pushes the conversation to it at once
// (no DHT here), and the recipient reads the message sent while it was
// offline.
func TestDMInboxAnswersRecipientOnly(t *testing.T) {
	ctx := t.Context()
	dirB := t.TempDir()
	a := startNode(t, "", fastInbox)
	b := startNode(t, dirB, fastInbox)
	idB := b.Chat().Self()
	hashB := b.OwnBundle().Hash()
	connect(t, b, a) // A's book gets B's bundle on connect
	testwait.For(t, 10*time.Second, "A holds B's bundle", func() bool {
		got, err := a.Bundle(ctx, idB)
		return err == nil && got.Hash() == hashB
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "A sees B gone", func() bool { return len(a.P2P().Peers()) == 0 })
	m1 := randomMarker()
	if _, err := a.Chat().DMSend(ctx, idB.String(), m1); err != nil {
		t.Fatalf("DM to an offline peer: %v", err)
	}
	if pend, _ := a.Chat().PendingDMs(ctx); len(pend) != 1 {
		t.Fatalf("outbox: %+v", pend)
	}

	stranger := rawHost(t, genKey(t))
	if err := stranger.Connect(ctx, addrInfo(t, a)); err != nil {
		t.Fatal(err)
	}
	if ans := askRaw(t, stranger, a.P2P().Host().ID(), node.DMInboxProtocol, hashB[:]); !slices.Equal(ans, []byte{0, 0}) {
		t.Fatalf("a stranger asking B's inbox got %x, want an empty answer", ans)
	}
	if ans := askRaw(t, stranger, a.P2P().Host().ID(), node.DMInboxProtocol, hashB[:31]); len(ans) != 0 {
		t.Fatalf("a malformed request was answered: %x", ans)
	}

	b = startNode(t, dirB, fastInbox)
	connect(t, b, a)
	testwait.For(t, 20*time.Second, "B reads the DM once connected", func() bool {
		got, err := b.Chat().DMHistory(ctx, a.Chat().Self().String(), chat.HistoryQuery{})
		return err == nil && len(got) == 1 && got[0].Text == m1
	})
}
