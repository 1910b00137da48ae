package node_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// A catch-up that stores thousands of events at once, while a subscriber
// is not reading, overflows the subscriber's in-memory queue. The
// subscription must not end: it reads on from the ledger and delivers
// every message exactly once, in arrival order.
func TestSubscriberBehindReadsFromLedger(t *testing.T) {
	n, err := node.New(t.Context(), node.Options{DataDir: t.TempDir(), Config: testConfig(), NoRPC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	r, err := n.Chat().Join(t.Context(), "general")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := n.Chat().Subscribe(t.Context(), chat.Filter{Room: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	heads, _ := n.Chat().Ledger().Heads(t.Context(), r.ID)
	head, _ := n.Chat().Ledger().Get(t.Context(), r.ID, heads[0])
	const total = 5000 // > the 1,024 queued per subscriber, several times over
	last := head
	for batch := 0; batch < total/1000; batch++ {
		evs := make([]*ledger.Event, 0, 1000)
		for range 1000 {
			ev, err := ledger.Sign(key, ledger.Draft{Room: r.ID, Kind: ledger.KindMsg, Time: time.Now(),
				Body:    fmt.Appendf(nil, `{"text":"m%d"}`, last.Lamport),
				Lamport: last.Lamport + 1, Parents: []ledger.ID{last.ID()}})
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
			last = ev
		}
		if added, _, err := n.Chat().Ingest(t.Context(), r.ID, evs); err != nil || len(added) != len(evs) {
			t.Fatalf("ingest: %d added, %v", len(added), err)
		}
	}
	// Also a live message after the flood.
	if _, err := n.Chat().Send(t.Context(), r.ID, "after"); err != nil {
		t.Fatal(err)
	}

	var prev uint64
	seen := make(map[string]bool)
	timeout := time.After(30 * time.Second)
	for len(seen) < total+1 {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d messages: %v", len(seen), sub.Err())
			}
			var seq uint64
			fmt.Sscan(m.Cursor, &seq)
			if seq <= prev || seen[m.ID] {
				t.Fatalf("message %s (cursor %d) out of order or repeated after cursor %d", m.ID, seq, prev)
			}
			prev, seen[m.ID] = seq, true
		case <-timeout:
			t.Fatalf("got %d of %d messages", len(seen), total+1)
		}
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
}
