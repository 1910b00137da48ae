package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

func randomMarker() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// scanDir reports whether any file under dir contains b.
func scanDir(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(raw, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A private room across three real nodes on 127.0.0.1, each with its own
// Pebble data directory, driven over RPC as apps would. A creates it and
// invites B; C is connected to both and even joins the room's ID, but is
// never added: members' sync answers it as for a room they do not hold,
// so its ledger holds none of the room's events. B reads A's messages;
// C's RPC shows none, and the raw files of C's data directory hold
// neither a random marker sent in the room nor the room's name.
// After A kicks B, B cannot decrypt what A sends next while A can, and
// B's ledger, old messages included, still verifies. The members' own
// data directories hold the plaintext only under their data keys.
func TestPrivateRoomThreeNodes(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b := startNode(t, dirA), startNode(t, dirB)
	c := startNode(t, dirC, func(o *node.Options) { o.RPC = func(c *rpc.Config) { c.JoinWait = 2 * time.Second } })
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	ra, rb, rc := rpcAt(t, dirA), rpcAt(t, dirB), rpcAt(t, dirC)
	texts := func(cl *client.Client, room string) []string {
		var msgs []api.Message
		if err := cl.Call(ctx, "msg_history", []any{room}, &msgs); err != nil {
			return nil
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Text)
		}
		return out
	}
	nodes := []*node.Node{a, b, c}

	name := "plans-" + randomMarker()[:12]
	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": name, "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	if !room.Private || room.Name != name || room.Invite == "" || bytes.Contains([]byte(room.ID), []byte(name)) {
		t.Fatalf("room_create: %+v", room)
	}
	var inv struct{ Invite string }
	if err := ra.Call(ctx, "room_invite", []any{room.ID, b.Chat().Self().String()}, &inv); err != nil {
		t.Fatal(err)
	}
	var joined api.Room
	if err := rb.Call(ctx, "room_join", []any{inv.Invite}, &joined); err != nil || joined.ID != room.ID {
		t.Fatalf("room_join [invite]: %+v %v", joined, err)
	}
	if err := rc.Call(ctx, "room_join", []any{inv.Invite}, &joined); err == nil {
		t.Fatal("C joined with B's invite")
	}
	testwait.For(t, 20*time.Second, "B decrypts the room's name", func() bool {
		var rooms []api.Room
		rb.Call(ctx, "room_list", nil, &rooms)
		return len(rooms) == 1 && rooms[0].Name == name && rooms[0].Private
	}, syncState(nodes...))

	m1 := randomMarker()
	if err := ra.Call(ctx, "msg_send", []any{room.ID, m1}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "B reads A's message", func() bool {
		return slices.Contains(texts(rb, room.ID), m1)
	}, syncState(nodes...))
	mb := randomMarker()
	if err := rb.Call(ctx, "msg_send", []any{room.ID, mb}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A reads B's message", func() bool {
		return slices.Contains(texts(ra, room.ID), mb)
	}, syncState(nodes...))

	// C was never added: its RPC knows no such room.
	var none []api.Message
	if err := rc.Call(ctx, "msg_history", []any{room.ID}, &none); err == nil && len(none) > 0 {
		t.Fatalf("C reads %d messages", len(none))
	}
	// Joining the room's ID, C is refused: members answer its sync as
	// for a room they do not hold, and never offer the room to it.
	var re *api.Error
	if err := rc.Call(ctx, "room_join", []any{room.ID}, &joined); !errors.As(err, &re) || re.Code != api.CodeInviteOnly {
		t.Fatalf("C's room_join [room ID]: %v, want code %d", err, api.CodeInviteOnly)
	}
	led := c.Chat().Ledger()
	if got := texts(rc, room.ID); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}

	// Removal.
	if err := ra.Call(ctx, "room_kick", []any{room.ID, b.Chat().Self().String()}, nil); err != nil {
		t.Fatal(err)
	}
	var sent api.Message
	m2 := randomMarker()
	if err := ra.Call(ctx, "msg_send", []any{room.ID, m2}, &sent); err != nil {
		t.Fatal(err)
	}
	// B no longer even receives what A writes: A's new epoch has a topic
	// B cannot derive, and A's sync serves members only.
	sentID, err := ledger.ParseID(sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond) // an observation window, not a wait
	defer tick.Stop()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); <-tick.C {
		if has, _ := b.Chat().Ledger().Has(ctx, room.ID, sentID); has {
			t.Fatal("kicked B stored A's message written after the kick")
		}
	}
	if got := texts(rb, room.ID); slices.Contains(got, m2) || !slices.Contains(got, m1) || !slices.Contains(got, mb) {
		t.Fatalf("kicked B reads %q", got)
	}
	if got := texts(ra, room.ID); !slices.Equal(got, []string{m1, mb, m2}) {
		t.Fatalf("A reads %q", got)
	}
	var rep api.VerifyReport
	if err := rb.Call(ctx, "ledger_verify", []any{room.ID}, &rep); err != nil || !rep.OK {
		t.Fatalf("B's ledger_verify: %+v %v", rep, err)
	}

	// C's ledger: by now C has asked A and B to sync the room (on joining
	// it, and again as its events reached C by gossip without their
	// parents) and was answered as for an unknown room each time.
	evs, err := led.History(ctx, room.ID, "", 1000)
	if err != nil || len(evs) != 0 {
		t.Fatalf("C's ledger: %d events of a private room it was never added to, %v", len(evs), err)
	}
	if got := texts(rc, room.ID); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}
	secrets := []string{m1, mb, m2, name}
	for _, ev := range evs {
		for _, s := range secrets {
			if bytes.Contains(ev.Body, []byte(s)) {
				t.Fatalf("C's ledger holds %q in a %s event", s, ev.Kind)
			}
		}
	}
	// What C does store, the scan finds.
	mc := randomMarker()
	if err := rc.Call(ctx, "room_join", []any{"lobby"}, &joined); err != nil {
		t.Fatal(err)
	}
	if err := rc.Call(ctx, "msg_send", []any{"lobby", mc}, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !scanDir(t, dirC, []byte(mc)) {
		t.Fatal("the scan does not find a marker C sent: it could not find anything")
	}
	for _, s := range secrets {
		if scanDir(t, dirC, []byte(s)) {
			t.Fatalf("C's data directory holds %q", s)
		}
	}
	// Members keep plaintext only under their local data key.
	a.Close()
	b.Close()
	for _, dir := range []string{dirA, dirB} {
		for _, s := range secrets {
			if scanDir(t, dir, []byte(s)) {
				t.Fatalf("a member's data directory holds %q in the clear", s)
			}
		}
	}
}

// room_create's invite admits by its secret over real streams: B proves
// it to A's node (AdmitProtocol), which admits B and rekeys; B reads A's
// messages. The invite has one use: C, with the same token, is refused.
func TestPrivateInviteBySecretNodes(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA), startNode(t, dirB), startNode(t, dirC)
	connect(t, b, a)
	connect(t, c, a)
	ra, rb, rc := rpcAt(t, dirA), rpcAt(t, dirB), rpcAt(t, dirC)
	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": "door", "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	var joined api.Room
	if err := rb.Call(ctx, "room_join", []any{room.Invite}, &joined); err != nil || joined.ID != room.ID {
		t.Fatalf("room_join [invite]: %+v %v", joined, err)
	}
	m := randomMarker()
	if err := ra.Call(ctx, "msg_send", []any{room.ID, m}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "B reads A's message", func() bool {
		var msgs []api.Message
		rb.Call(ctx, "msg_history", []any{room.ID}, &msgs)
		return len(msgs) == 1 && msgs[0].Text == m
	}, syncState(a, b, c))
	err := rc.Call(ctx, "room_join", []any{room.Invite}, &joined)
	var re *api.Error
	if !errors.As(err, &re) || re.Code != api.CodeInvalidArgument {
		t.Fatalf("C with a used-up invite: %v", err)
	}
}

// Direct messages across three real nodes on 127.0.0.1 over RPC: A's
// first dm_send to B starts the conversation and hands it to B; B's
// dm_history shows it and room_list shows kind dm; B's reply lands in
// the same conversation; C, connected to both, has no such room, and its
// data directory holds neither message.
func TestDirectMessagesThreeNodes(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA), startNode(t, dirB), startNode(t, dirC)
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	ra, rb, rc := rpcAt(t, dirA), rpcAt(t, dirB), rpcAt(t, dirC)
	idA, idB := a.Chat().Self().String(), b.Chat().Self().String()
	dm := func(cl *client.Client, with string) []string {
		var msgs []api.Message
		if err := cl.Call(ctx, "dm_history", []any{with}, &msgs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Text)
		}
		return out
	}
	m1, m2 := randomMarker(), randomMarker()
	if err := ra.Call(ctx, "dm_send", []any{idB, m1}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "B reads A's DM", func() bool {
		return slices.Equal(dm(rb, idA), []string{m1})
	}, syncState(a, b, c))
	var rooms []api.Room
	if err := rb.Call(ctx, "room_list", nil, &rooms); err != nil || len(rooms) != 1 || rooms[0].Kind != "dm" || !rooms[0].Private {
		t.Fatalf("B's room_list: %+v %v", rooms, err)
	}
	if err := rb.Call(ctx, "dm_send", []any{idA, m2}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A reads B's reply", func() bool {
		return slices.Equal(dm(ra, idB), []string{m1, m2})
	}, syncState(a, b, c))
	if err := rc.Call(ctx, "room_list", nil, &rooms); err != nil || len(rooms) != 0 {
		t.Fatalf("C's room_list: %+v %v", rooms, err)
	}
	if got := dm(rc, idA); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}
	c.Close()
	for _, s := range []string{m1, m2} {
		if scanDir(t, dirC, []byte(s)) {
			t.Fatalf("C's data directory holds %q", s)
		}
	}
}
