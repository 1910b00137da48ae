package node_test

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/rpc/api"
)

// A kick reaches the removed member while older epochs' topics are still
// in their grace period: A created the room (epoch 1, A alone), added B
// (epoch 2) and C (epoch 3), then kicks B at once. Plaintext events went
// on the oldest topic A held, epoch 1's, which admits A alone, so B's
// node heard neither of C's addition nor of the kick, and went on
// "sending" into a topic nobody read (the browser test's removal timed
// out the same way). Real daemons' grace period (a minute) is kept.
func TestKickReachesRemovedMember(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA), startNode(t, dirB), startNode(t, dirC)
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	ra, rb := rpcAt(t, dirA), rpcAt(t, dirB)
	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": "plans", "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	var inv struct{ Invite string }
	if err := ra.Call(ctx, "room_invite", []any{room.ID, b.Chat().Self().String()}, &inv); err != nil {
		t.Fatal(err)
	}
	if err := rb.Call(ctx, "room_join", []any{inv.Invite}, nil); err != nil {
		t.Fatal(err)
	}
	var sent api.Message
	testwait.ForEvery(t, 100*time.Millisecond, 20*time.Second, "B to write in the room", func() bool {
		return rb.Call(ctx, "msg_send", []any{room.ID, "hi from B"}, &sent) == nil
	})
	if err := ra.Call(ctx, "room_invite", []any{room.ID, c.Chat().Self().String()}, &inv); err != nil {
		t.Fatal(err)
	}
	// Kicked at once, as the page does: B may not have opened epoch 3's
	// keys yet (they travel on the topics B is on).
	if err := ra.Call(ctx, "room_kick", []any{room.ID, b.Chat().Self().String()}, nil); err != nil {
		t.Fatal(err)
	}
	// B's node knows: its member list leaves B out (a send could fail
	// for want of the new epoch's keys alone), and it refuses B's sends.
	idB := b.Chat().Self().String()
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "B's node to know it was removed", func() bool {
		var ms []api.Member
		if err := rb.Call(ctx, "room_members", []any{room.ID}, &ms); err != nil {
			return false
		}
		return !slices.ContainsFunc(ms, func(m api.Member) bool { return m.PeerID == idB })
	})
	if err := rb.Call(ctx, "msg_send", []any{room.ID, "still in?"}, nil); err == nil {
		t.Fatal("B's node still sends in the room it was removed from")
	}
}
