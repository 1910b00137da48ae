package node_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

// signBurst signs total message events by one new author in room r, each
// child of the previous one.
func signBurst(t *testing.T, n *node.Node, r chat.Room, total int, text string) []*ledger.Event {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	heads, err := n.Chat().Ledger().Heads(t.Context(), r.ID)
	if err != nil || len(heads) == 0 {
		t.Fatalf("heads: %v %v", heads, err)
	}
	last, err := n.Chat().Ledger().Get(t.Context(), r.ID, heads[0])
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]*ledger.Event, 0, total)
	for i := range total {
		ev, err := ledger.Sign(key, ledger.Draft{Room: r.ID, Kind: ledger.KindMsg, Time: time.Now(),
			Body:    fmt.Appendf(nil, `{"text":"b%d %s"}`, i, text),
			Lamport: last.Lamport + 1, Parents: []ledger.ID{last.ID()}})
		if err != nil {
			t.Fatal(err)
		}
		evs, last = append(evs, ev), ev
	}
	return evs
}

// ingest stores evs in batches of batch, the way a sync session does.
func ingest(ctx context.Context, n *node.Node, r chat.Room, evs []*ledger.Event, batch int) error {
	for len(evs) > 0 {
		k := min(batch, len(evs))
		if added, _, err := n.Chat().Ingest(ctx, r.ID, evs[:k]); err != nil || len(added) != k {
			return fmt.Errorf("ingest: %d of %d added, %v", len(added), k, err)
		}
		evs = evs[k:]
	}
	return nil
}

func eventIDs(evs []*ledger.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.IDText()
	}
	return ids
}

// A WebSocket subscriber that reads at a normal pace while sync stores a
// burst of 3,000 messages from one author gets every one of them, in
// order, and is not dropped: the server sends at the socket's pace and
// the subscription catches up from the ledger when it falls behind.
func TestRPCSubscriberKeepsUpWithBurst(t *testing.T) {
	watch := newDropWatch()
	n := startRPCNode(t, func(o *node.Options) { o.Logger = slog.New(watch) })
	r, err := n.Chat().Join(t.Context(), "general")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := n.c.Subscribe(t.Context(), r.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const total = 3000
	evs := signBurst(t, n.Node, r, total, strings.Repeat("z", 200))
	want := eventIDs(evs)
	stored := make(chan error, 1)
	go func() { stored <- ingest(t.Context(), n.Node, r, evs, 500) }()
	got := make([]string, 0, total)
	deadline := time.After(60 * time.Second)
	for len(got) < total {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages: %v", len(got), total, sub.Err())
			}
			got = append(got, m.ID)
			if len(got)%100 == 0 {
				time.Sleep(5 * time.Millisecond) // a reader that does some work per message
			}
		case <-deadline:
			t.Fatalf("got %d of %d messages", len(got), total)
		}
	}
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %s, want %s", i, got[i], want[i])
		}
	}
	select {
	case <-watch.sig.dropped:
		t.Fatal("the server dropped a client that was reading")
	default:
	}
}

// A client that stops reading is dropped once a write has waited
// WSWriteTimeout; reconnecting with since = the cursor of the last message
// it read gets the rest of the burst, with no gap and no duplicate.
func TestRPCStalledSubscriberResumes(t *testing.T) {
	watch := newDropWatch()
	const writeTimeout = time.Second
	n := startRPCNode(t, func(o *node.Options) {
		o.Logger = slog.New(watch)
		o.RPC = func(c *rpc.Config) { c.WSWriteTimeout = writeTimeout }
	})
	r, err := n.Chat().Join(t.Context(), "general")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	stuck := n.dialWSSmallBuffer(t, 64<<10)
	req := `{"jsonrpc":"2.0","id":1,"method":"chat_subscribe","params":["messages",{"room":"` + r.ID + `"}]}`
	if err := stuck.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := stuck.Read(ctx); err != nil || !strings.Contains(string(b), `"result":"0x`) {
		t.Fatalf("subscribe: %s %v", b, err)
	}
	// ~24 MB: more than the socket buffers and the server's queue hold.
	const total = 3000
	evs := signBurst(t, n.Node, r, total, strings.Repeat("s", 8<<10))
	want := eventIDs(evs)
	start := time.Now()
	if err := ingest(ctx, n.Node, r, evs, 500); err != nil {
		t.Fatal(err)
	}
	select {
	case <-watch.sig.dropped:
		t.Logf("non-reader dropped %s after the burst was stored", time.Since(start).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not drop the client that stopped reading")
	}
	// Read what got through before the drop, keeping the last cursor.
	var got []string
	var cursor string
	for {
		_, b, err := stuck.Read(ctx)
		if err != nil {
			break
		}
		var note struct {
			Params api.SubscriptionParams `json:"params"`
		}
		if err := json.Unmarshal(b, &note); err != nil || note.Params.Result == nil {
			t.Fatalf("notification %s: %v", b, err)
		}
		got, cursor = append(got, note.Params.Result.ID), note.Params.Result.Cursor
	}
	if len(got) >= total {
		t.Fatalf("the non-reader got all %d messages; it should have been dropped", len(got))
	}
	t.Logf("non-reader got %d of %d messages before the drop; resuming from cursor %q", len(got), total, cursor)

	sub, err := n.c.Subscribe(ctx, r.ID, cursor)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, m := range recvN(t, sub, total-len(got), 60*time.Second) {
		got = append(got, m.ID)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %s, want %s", i, got[i], want[i])
		}
	}
	select {
	case m := <-sub.C():
		t.Fatalf("extra message %s after the burst", m.ID)
	case <-time.After(100 * time.Millisecond):
	}
}
