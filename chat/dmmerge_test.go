package chat

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
)

// exchange pulls every room's events between every pair of peers, twice
// (the second round carries the joins the first one triggered).
func exchange(t testing.TB, peers []*privPeer, rooms ...string) {
	t.Helper()
	for range 2 {
		for _, p := range peers {
			for _, q := range peers {
				if p != q {
					for _, r := range rooms {
						p.pull(t, q.modPeer, r)
					}
				}
			}
		}
	}
}

func ids(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// crossedPair has A and B each send a first DM before the other's
// conversation arrives: each creates a room, hands it over, and joins the
// other's. It returns the two rooms, lowest ID first, and the texts.
func crossedPair(t testing.TB) (a, b *privPeer, rooms []string, m1, m2 string) {
	t.Helper()
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b = newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	a.openDM(t, peers, Config{})
	b.openDM(t, peers, Config{})
	m1, m2 = "from a "+marker(), "from b "+marker()
	sa, err := a.s.DMSend(ctx, b.id.String(), m1)
	if err != nil {
		t.Fatal(err)
	}
	// B has joined A's room by its hand-over, but nothing of it has come:
	// it does not know it for a conversation and starts its own.
	sb, err := b.s.DMSend(ctx, a.id.String(), m2)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Room == sb.Room {
		t.Fatal("the two first messages went to one room: nothing crossed")
	}
	rooms = []string{sa.Room, sb.Room}
	slices.Sort(rooms)
	return a, b, rooms, m1, m2
}

// Two first DMs that crossed make one conversation on both sides: the
// same canonical room (the lowest ID), one room_list entry, one history
// holding both messages in the same order on both, and later messages
// from either side go to the canonical room.
func TestCrossedDirectMessagesMerge(t *testing.T) {
	ctx := context.Background()
	a, b, rooms, m1, m2 := crossedPair(t)
	exchange(t, []*privPeer{a, b}, rooms...)
	canon := rooms[0]
	for _, p := range []*privPeer{a, b} {
		if got := p.s.dmRooms(other(p, a, b).id); !slices.Equal(got, rooms) {
			t.Fatalf("%s: conversation rooms %v, want %v", p.id, got, rooms)
		}
		if r, ok, _ := p.s.DMRoom(other(p, a, b).id.String()); !ok || r.ID != canon || r.Kind != KindDM {
			t.Fatalf("%s: DMRoom %+v %v, want %s", p.id, r, ok, canon)
		}
		all, _ := p.s.Rooms(ctx)
		listed, _ := p.s.ListRooms(ctx)
		if len(all) != 2 || len(listed) != 1 || listed[0].ID != canon || listed[0].Kind != KindDM {
			t.Fatalf("%s: Rooms %d, ListRooms %+v; want 2 rooms listed once as %s", p.id, len(all), listed, canon)
		}
	}
	ha, err := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ha) != 2 || !slices.Equal(ids(ha), ids(hb)) {
		t.Fatalf("histories differ or miss messages:\nA %+v\nB %+v", ha, hb)
	}
	if got := []string{ha[0].Text, ha[1].Text}; !slices.Contains(got, m1) || !slices.Contains(got, m2) {
		t.Fatalf("history %q, want both first messages", got)
	}
	for _, m := range append(ha, hb...) {
		if m.Room != canon {
			t.Fatalf("message %s names room %s, want the canonical %s", m.ID, m.Room, canon)
		}
	}
	// The non-canonical room's ID names the conversation too.
	if h, _ := a.s.History(ctx, rooms[1], HistoryQuery{}); !slices.Equal(ids(h), ids(ha)) {
		t.Fatalf("History of the other room: %+v", h)
	}

	// Later messages, from either side, go to the canonical room.
	m3, err := a.s.DMSend(ctx, b.id.String(), "third")
	if err != nil {
		t.Fatal(err)
	}
	m4, err := b.s.Send(ctx, rooms[1], "fourth") // by the other room's ID
	if err != nil {
		t.Fatal(err)
	}
	if m3.Room != canon || m4.Room != canon {
		t.Fatalf("later messages went to %s and %s, want %s", m3.Room, m4.Room, canon)
	}
	exchange(t, []*privPeer{a, b}, canon)
	ha, _ = a.s.DMHistory(ctx, b.id.String(), HistoryQuery{})
	hb, _ = b.s.DMHistory(ctx, a.id.String(), HistoryQuery{})
	if len(ha) != 4 || !slices.Equal(ids(ha), ids(hb)) {
		t.Fatalf("after more messages, histories differ:\nA %+v\nB %+v", ha, hb)
	}
	if n := len(texts(t, a, rooms[1])); n != 4 {
		t.Fatalf("the other room's history holds %d messages, want the conversation's 4", n)
	}
}

func other(p, a, b *privPeer) *privPeer {
	if p == a {
		return b
	}
	return a
}

// Paging a merged conversation with before walks it back one message at
// a time, across both rooms, and meets exactly the full history; a
// cursor from neither room is refused.
func TestCrossedDirectMessagesPaging(t *testing.T) {
	ctx := context.Background()
	a, b, rooms, _, _ := crossedPair(t)
	// More messages in both rooms before the two sides see the merge.
	own := func(p *privPeer) string {
		for _, r := range rooms {
			if p.s.modRoom(r).creatorID() == p.id {
				return r
			}
		}
		t.Fatal("no room of its own")
		return ""
	}
	for i := range 3 {
		if _, err := a.s.Send(ctx, own(a), "a-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.Send(ctx, own(b), "b-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, []*privPeer{a, b}, rooms...)
	full, err := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 8 {
		t.Fatalf("history holds %d messages, want 8", len(full))
	}
	for _, step := range []int{1, 3} {
		var walked []Message
		before := ""
		for {
			page, err := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{Limit: step, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > step {
				t.Fatalf("page of %d, limit %d", len(page), step)
			}
			walked = append(page, walked...)
			before = page[0].ID
		}
		if !slices.Equal(ids(walked), ids(full)) {
			t.Fatalf("paging by %d gave\n%v\nwant\n%v", step, ids(walked), ids(full))
		}
	}
	// A page before a message of one room holds the other's older ones.
	lamport := func(id string) uint64 {
		for _, m := range full {
			if m.ID == id {
				return m.Lamport
			}
		}
		t.Fatalf("no message %s", id)
		return 0
	}
	last := full[len(full)-1]
	page, _ := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{Limit: 100, Before: last.ID})
	if !slices.Equal(ids(page), ids(full[:len(full)-1])) {
		t.Fatalf("before the newest: %v", ids(page))
	}
	for _, m := range page {
		if lamport(m.ID) > last.Lamport {
			t.Fatalf("message %s after the cursor", m.ID)
		}
	}
	pub := newPrivPeer(t, newKeyDir(), "c")
	pr, _, err := pub.s.CreatePrivate(ctx, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	foreign := head(t, pub.modPeer, pr.ID).ID().String()
	if _, err := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{Before: foreign}); err == nil {
		t.Fatal("a cursor from another room was accepted")
	}
}

// A subscription to either room of a conversation gets the messages of
// both, each naming the canonical room, live and replayed by cursor.
func TestCrossedDirectMessagesSubscription(t *testing.T) {
	ctx := context.Background()
	a, b, rooms, _, m2 := crossedPair(t)
	var mine, theirs string // at A: its own room and B's
	for _, r := range rooms {
		if a.s.modRoom(r).creatorID() == a.id {
			mine = r
		} else {
			theirs = r
		}
	}
	exchange(t, []*privPeer{a, b}, mine) // A's room is a conversation at A
	sub, err := a.s.Subscribe(ctx, Filter{Room: mine})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	a.pull(t, b.modPeer, theirs) // B's first message arrives in B's room
	got := testwait.Recv(t, 5*time.Second, "B's first message", sub.C())
	if got.Text != m2 || got.Room != rooms[0] {
		t.Fatalf("got %q in %s, want %q in the canonical %s", got.Text, got.Room, m2, rooms[0])
	}
	// Replay from the start of the conversation (A's first message, in
	// A's room) by cursor: B's message, in the other room, comes again.
	h, _ := a.s.History(ctx, mine, HistoryQuery{})
	first := h[0]
	if first.Text == m2 {
		first = h[1]
	}
	rep, err := a.s.Subscribe(ctx, Filter{Room: theirs, Since: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if m := testwait.Recv(t, 5*time.Second, "replayed message", rep.C()); m.Text != m2 || m.Room != rooms[0] {
		t.Fatalf("replayed %q in %s, want %q in %s", m.Text, m.Room, m2, rooms[0])
	}
}

// heldDelivery takes hand-overs and holds them until flush: as if both
// were still on their way (an inbox, a slow stream).
type heldDelivery struct {
	from peer.ID
	mu   sync.Mutex
	held []heldToken
}

type heldToken struct {
	to   peer.ID
	init []byte // the conversation's first message (e2ee.DMInit)
}

func (d *heldDelivery) Deliver(_ context.Context, to peer.ID, init []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held = append(d.held, heldToken{to, init})
	return nil
}

func (d *heldDelivery) flush(t *testing.T, peers map[peer.ID]*Service) {
	t.Helper()
	d.mu.Lock()
	held := d.held
	d.held = nil
	d.mu.Unlock()
	for _, h := range held {
		if _, err := peers[h.to].AcceptDM(context.Background(), h.init); err != nil {
			t.Fatal(err)
		}
	}
}

// Both first messages are sent before either hand-over arrives; once
// both arrive and the rooms are exchanged, both sides hold one
// conversation with both messages in the same order.
func TestCrossedDirectMessagesHandOversLate(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	da, db := &heldDelivery{from: a.id}, &heldDelivery{from: b.id}
	a.openDM(t, peers, Config{DMDelivery: da})
	b.openDM(t, peers, Config{DMDelivery: db})
	ma, err := a.s.DMSend(ctx, b.id.String(), "from a")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := b.s.DMSend(ctx, a.id.String(), "from b")
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms(t, a.s)) != 1 || len(rooms(t, b.s)) != 1 {
		t.Fatal("a hand-over arrived early")
	}
	da.flush(t, peers)
	db.flush(t, peers)
	exchange(t, []*privPeer{a, b}, ma.Room, mb.Room)
	canon := min(ma.Room, mb.Room)
	ha, _ := a.s.DMHistory(ctx, b.id.String(), HistoryQuery{})
	hb, _ := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{})
	if len(ha) != 2 || !slices.Equal(ids(ha), ids(hb)) || ha[0].Room != canon || hb[1].Room != canon {
		t.Fatalf("histories:\nA %+v\nB %+v\nwant the same two messages in %s", ha, hb, canon)
	}
	for _, p := range []*privPeer{a, b} {
		if l, _ := p.s.ListRooms(ctx); len(l) != 1 || l[0].ID != canon {
			t.Fatalf("%s lists %+v, want only %s", p.id, l, canon)
		}
	}
}
