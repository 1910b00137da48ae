package node_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// Moderation across three real nodes on 127.0.0.1 (issue 18): A creates a
// moderated room, B and C join it by ID. A appoints B, then revokes B; an
// act B signed concurrently with the revocation (the attacker's key,
// parents from before the revocation) is stored but has no effect, and a
// ban B signs after it is refused everywhere without blame. C spams; A
// bans C; every node hides C's messages, B's RPC subscription gets a
// redaction for each, C can no longer write, and the ledger verifies on
// all three.
func TestModerationThreeNodes(t *testing.T) {
	ctx := t.Context()
	dirB := t.TempDir()
	a, b, c := startNode(t, ""), startNode(t, dirB), startNode(t, "")
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	nodes := []*node.Node{a, b, c}
	idOf := func(n *node.Node) string { return n.Chat().Self().String() }

	room, err := a.Chat().Create(ctx, "ops", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Chat().Join(ctx, room.ID); err != nil {
			t.Fatal(err)
		}
	}
	adminsAre := func(want ...string) func() bool {
		return func() bool {
			for _, n := range nodes {
				got, err := n.Chat().Admins(ctx, room.ID)
				if err != nil || !slices.Equal(got, want) {
					return false
				}
			}
			return true
		}
	}
	testwait.For(t, 20*time.Second, "genesis at B and C", adminsAre(idOf(a)), syncState(nodes...))

	// A appoints B; remember the room's heads there, then revoke.
	if err := a.Chat().Moderate(ctx, room.ID, chat.OpAdmin, idOf(b), ""); err != nil {
		t.Fatal(err)
	}
	both := []string{idOf(a), idOf(b)}
	slices.Sort(both)
	testwait.For(t, 20*time.Second, "B is admin everywhere", adminsAre(both...), syncState(nodes...))
	before, err := a.Chat().Ledger().Heads(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Chat().Moderate(ctx, room.ID, chat.OpUnadmin, idOf(b), ""); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "B revoked everywhere", adminsAre(idOf(a)), syncState(nodes...))

	// B, the attacker, with its own key: an act concurrent with the
	// revocation (banning A), and one after it (banning C).
	keyB, _, err := node.LoadOrCreateKey(filepath.Join(dirB, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	concurrent := signOn(t, a, keyB, room.ID, chat.KindMod, fmt.Sprintf(`{"op":"ban","peer":"%s"}`, idOf(a)), before)
	heads, _ := a.Chat().Ledger().Heads(ctx, room.ID)
	late := signOn(t, a, keyB, room.ID, chat.KindMod, fmt.Sprintf(`{"op":"ban","peer":"%s"}`, idOf(c)), heads)
	if err := b.Chat().Moderate(ctx, room.ID, chat.OpBan, idOf(c), ""); !errors.Is(err, chat.ErrNotAdmin) {
		t.Fatalf("revoked B's Moderate: %v, want ErrNotAdmin", err)
	}
	for i, n := range nodes {
		added, rejected, err := n.Chat().Ingest(ctx, room.ID, []*ledger.Event{concurrent, late})
		if err != nil || len(rejected) != 0 {
			t.Fatalf("node %d: Ingest: %v, rejections %v (refusals must not blame the sender)", i, err, rejected)
		}
		if len(added) != 1 || added[0].ID() != concurrent.ID() {
			t.Fatalf("node %d stored %d of the attacker's events; want only the concurrent one (valid in its past)", i, len(added))
		}
		if banned, _ := n.Chat().Banned(ctx, room.ID); len(banned) != 0 {
			t.Fatalf("node %d: the revoked admin's acts took effect: banned %v", i, banned)
		}
	}

	// B watches the room over its RPC, as an app would.
	url, token, err := client.ReadEndpoint(dirB)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := client.Dial(url, token).Subscribe(ctx, room.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// C spams.
	const spam = 5
	var spamIDs []string
	for i := range spam {
		m, err := c.Chat().Send(ctx, room.ID, fmt.Sprintf("spam %d", i))
		if err != nil {
			t.Fatal(err)
		}
		spamIDs = append(spamIDs, m.ID)
	}
	countSpam := func(n *node.Node) int {
		k := 0
		for _, m := range history(t, n, room.ID) {
			if slices.Contains(spamIDs, m.ID) {
				k++
			}
		}
		return k
	}
	testwait.For(t, 20*time.Second, "spam everywhere", func() bool {
		return countSpam(a) == spam && countSpam(b) == spam
	}, syncState(nodes...))
	got := recvSome(t, sub, spam, 20*time.Second)
	for _, m := range got {
		if !slices.Contains(spamIDs, m.ID) {
			t.Fatalf("subscription at B got %q, not C's spam", m.Text)
		}
	}

	// A bans C: every node hides C's messages.
	banned := time.Now()
	if err := a.Chat().Moderate(ctx, room.ID, chat.OpBan, idOf(c), ""); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "C's messages hidden everywhere", func() bool {
		return countSpam(a) == 0 && countSpam(b) == 0 && countSpam(c) == 0
	}, syncState(nodes...))
	t.Logf("ban to C's messages hidden on all three nodes: %v", time.Since(banned).Round(time.Millisecond))
	var redacted []string
	deadline := time.After(20 * time.Second)
	for len(redacted) < spam {
		select {
		case r := <-sub.Redactions():
			if r.Room != room.ID {
				t.Fatalf("redaction for room %s", r.Room)
			}
			redacted = append(redacted, r.Redacted)
		case m := <-sub.C():
			t.Fatalf("after the ban B's subscription got a message: %+v", m)
		case <-deadline:
			t.Fatalf("B's subscription got %d of %d redactions", len(redacted), spam)
		}
	}
	slices.Sort(redacted)
	slices.Sort(spamIDs)
	if !slices.Equal(redacted, spamIDs) {
		t.Fatalf("redacted %v, want C's messages %v", redacted, spamIDs)
	}
	if _, err := c.Chat().Send(ctx, room.ID, "still here"); !errors.Is(err, chat.ErrNotAllowed) {
		t.Fatalf("banned C's Send: %v, want ErrNotAllowed", err)
	}
	for i, n := range nodes {
		rep, err := n.Chat().Verify(ctx, room.ID)
		if err != nil || !rep.OK {
			t.Fatalf("node %d: ledger_verify %+v, %v", i, rep, err)
		}
		if banned, _ := n.Chat().Banned(ctx, room.ID); !slices.Equal(banned, []string{idOf(c)}) {
			t.Fatalf("node %d: banned %v, want only C", i, banned)
		}
	}
	// A's own message after the ban reaches everyone: honest writing goes on.
	if _, err := a.Chat().Send(ctx, room.ID, "back to work"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A's message at B and C", func() bool {
		return hasText(history(t, b, room.ID), "back to work") && hasText(history(t, c, room.ID), "back to work")
	}, syncState(nodes...))
}

// signOn signs an event by key in room naming parents (from n's ledger,
// for their clocks).
func signOn(t *testing.T, n *node.Node, key crypto.PrivKey, room, kind, body string, parents []ledger.ID) *ledger.Event {
	t.Helper()
	var lam uint64
	for _, p := range parents {
		ev, err := n.Chat().Ledger().Get(t.Context(), room, p)
		if err != nil {
			t.Fatal(err)
		}
		lam = max(lam, ev.Lamport)
	}
	ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: kind, Body: []byte(body), Time: time.Now(), Lamport: lam + 1, Parents: parents})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// recvSome reads n messages from sub.
func recvSome(t *testing.T, sub *client.Subscription, n int, timeout time.Duration) []api.Message {
	t.Helper()
	var got []api.Message
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			got = append(got, m)
		case <-deadline:
			t.Fatalf("got %d of %d messages", len(got), n)
		}
	}
	return got
}
