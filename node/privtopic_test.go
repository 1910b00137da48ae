package node_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// TestPrivateTopicKeepsOutsiderOut plays a connected non-member that
// subscribes to a private room's topic name (which pubsub announces to
// every connected peer) through its own p2p node: A and B are members, A
// sends several messages, B reads them all, and C's topic receives
// nothing over several gossip heartbeats. With the room's topic joined
// the ordinary way, flood publishing hands C every message.
func TestPrivateTopicKeepsOutsiderOut(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA), startNode(t, dirB), startNode(t, dirC)
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	dial := func(dir string) *client.Client {
		url, token, err := client.ReadEndpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		return client.Dial(url, token)
	}
	ra, rb := dial(dirA), dial(dirB)
	nodes := []*node.Node{a, b, c}

	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": "plans", "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	var inv struct{ Invite string }
	if err := ra.Call(ctx, "room_invite", []any{room.ID, b.Chat().Self().String()}, &inv); err != nil {
		t.Fatal(err)
	}
	var joined api.Room
	if err := rb.Call(ctx, "room_join", []any{inv.Invite}, &joined); err != nil || joined.ID != room.ID || !joined.Private {
		t.Fatalf("room_join [invite]: %+v %v", joined, err)
	}

	// C subscribes to the room's topic name with a validator that counts
	// (and accepts) whatever reaches it.
	var got atomic.Int64
	tc, err := c.P2P().JoinTopic(chat.TopicName(room.ID), func(context.Context, peer.ID, []byte) (any, p2p.ValidationResult, error) {
		got.Add(1)
		return nil, p2p.ValidationAccept, nil
	}, func(peer.ID, []byte, any) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	testwait.For(t, 20*time.Second, "C to see both members subscribed, B to read the room's name", func() bool {
		var rooms []api.Room
		rb.Call(ctx, "room_list", nil, &rooms)
		return slices.Contains(tc.Peers(), a.Chat().Self()) && slices.Contains(tc.Peers(), b.Chat().Self()) &&
			len(rooms) == 1 && rooms[0].Name == "plans" && rooms[0].Private
	}, syncState(nodes...))

	const n = 6
	var sent []string
	for range n {
		m := randomMarker()
		if err := ra.Call(ctx, "msg_send", []any{room.ID, m}, nil); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	// B gets them by gossip (sync would also bring them; either way they
	// were published while C was subscribed).
	testwait.For(t, 20*time.Second, "B to read all of A's messages", func() bool {
		var msgs []api.Message
		if err := rb.Call(ctx, "msg_history", []any{room.ID}, &msgs); err != nil {
			return false
		}
		for _, m := range sent {
			if !slices.ContainsFunc(msgs, func(x api.Message) bool { return x.Text == m }) {
				return false
			}
		}
		return true
	}, syncState(nodes...))
	tick := time.NewTicker(100 * time.Millisecond) // an observation window over gossip heartbeats, not a wait
	defer tick.Stop()
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); <-tick.C {
		if k := got.Load(); k > 0 {
			t.Fatalf("C's subscription to the private topic received %d messages", k)
		}
	}
}
