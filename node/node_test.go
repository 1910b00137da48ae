package node_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
)

// loopback is the only network tests use.
var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func testConfig() node.Config {
	off := false
	return node.Config{Listen: loopback, RPC: "127.0.0.1:0", MDNS: &off, NATPortMap: &off, LogLevel: "warn"}
}

// startNode runs a node on dir (a new temp dir if empty) and closes it
// when the test ends.
func startNode(t *testing.T, dir string, mod ...func(*node.Options)) *node.Node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	opts := node.Options{DataDir: dir, Config: testConfig(), P2P: func(c *p2p.Config) {
		c.BootstrapBackoffMin = 100 * time.Millisecond
	}}
	for _, m := range mod {
		m(&opts)
	}
	n, err := node.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func connect(t *testing.T, a, b *node.Node) {
	t.Helper()
	info, err := b.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(t.Context(), info.Addrs[0]); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// syncState is a testwait.For diagnostic: the peers and sync state of
// each of nodes, logged when a wait times out.
func syncState(nodes ...*node.Node) func() string {
	return func() string {
		var b strings.Builder
		for i, n := range nodes {
			info, _ := n.Info(context.Background())
			fmt.Fprintf(&b, "node %d: peers %d sync %+v\n", i, info.Peers, info.Sync)
		}
		return b.String()
	}
}

func history(t *testing.T, n *node.Node, room string) []chat.Message {
	t.Helper()
	msgs, err := n.Chat().History(context.Background(), room, chat.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return msgs
}

func ids(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func hasText(msgs []chat.Message, text string) bool {
	return slices.ContainsFunc(msgs, func(m chat.Message) bool { return m.Text == text })
}

// Three real nodes on 127.0.0.1 in a chain: A–B and B–C connected, A and C
// not. Messages cross B both ways and all three end with the same history.
func TestChainOfThree(t *testing.T) {
	a, b, c := startNode(t, ""), startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	connect(t, c, b)
	ctx := t.Context()
	for _, n := range []*node.Node{a, b, c} {
		if _, err := n.Chat().Join(ctx, "general"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Chat().Send(ctx, "general", "hello from A"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A's message at C", func() bool { return hasText(history(t, c, "general"), "hello from A") }, syncState(a, b, c))
	if _, err := c.Chat().Send(ctx, "general", "hello from C"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "C's message at A", func() bool { return hasText(history(t, a, "general"), "hello from C") }, syncState(a, b, c))
	testwait.For(t, 20*time.Second, "identical histories", func() bool {
		ha, hb, hc := ids(history(t, a, "general")), ids(history(t, b, "general")), ids(history(t, c, "general"))
		return len(ha) == 2 && slices.Equal(ha, hb) && slices.Equal(hb, hc)
	})
	if info, _ := a.Info(ctx); info.Rooms != 1 || info.Peers < 1 {
		t.Fatalf("node_info of A: %+v", info)
	}

	// room_members: all three, from their join events; C leaves, and A sees it.
	members := func(n *node.Node) []string {
		ms, err := n.Chat().Members(ctx, "general")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.PeerID)
		}
		slices.Sort(out)
		return out
	}
	var all []string
	for _, n := range []*node.Node{a, b, c} {
		info, _ := n.Info(ctx)
		all = append(all, info.PeerID)
	}
	slices.Sort(all)
	if got := members(a); !slices.Equal(got, all) {
		t.Fatalf("members at A = %v, want %v", got, all)
	}
	if err := c.Chat().Leave(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "C's leave seen at A", func() bool { return len(members(a)) == 2 }, syncState(a, b, c))
}

// A node stopped and started again on the same data dir keeps its
// identity, rooms and history, and its ledger verifies.
func TestRestartKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	ctx := t.Context()
	info1, _ := n.Info(ctx)
	if _, err := n.Chat().Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		if _, err := n.Chat().Send(ctx, "general", s); err != nil {
			t.Fatal(err)
		}
	}
	before := history(t, n, "general")
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, node.RPCAddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rpc.addr left behind after Close: %v", err)
	}

	n2 := startNode(t, dir)
	info2, _ := n2.Info(ctx)
	if info2.PeerID != info1.PeerID {
		t.Fatalf("identity changed across restart: %s -> %s", info1.PeerID, info2.PeerID)
	}
	after := history(t, n2, "general")
	if !slices.Equal(ids(before), ids(after)) || len(after) != 3 {
		t.Fatalf("history changed across restart:\n%v\n%v", ids(before), ids(after))
	}
	rooms, _ := n2.Chat().Rooms(ctx)
	if len(rooms) != 1 || rooms[0].Name != "general" {
		t.Fatalf("rooms after restart: %+v", rooms)
	}
	rep, err := n2.Chat().Verify(ctx, "")
	if err != nil || !rep.OK || rep.Events != 4 { // join + 3 messages
		t.Fatalf("verify after restart: %+v, %v", rep, err)
	}
	m, err := n2.Chat().Send(ctx, "general", "four")
	if err != nil || m.Parents[0] != before[2].ID {
		t.Fatalf("send after restart: %+v %v", m, err)
	}
}

func TestDataDirLockedAndDamagedKey(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir)
	_, err := node.New(t.Context(), node.Options{DataDir: dir, Config: testConfig()})
	if !errors.Is(err, node.ErrLocked) {
		t.Fatalf("second node on the same dir: %v, want ErrLocked", err)
	}

	dir2 := t.TempDir()
	if _, err := node.Init(dir2); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir2, node.KeyFile)
	good, _ := os.ReadFile(keyPath)
	os.WriteFile(keyPath, good[:len(good)/2], 0o600)
	_, err = node.New(t.Context(), node.Options{DataDir: dir2, Config: testConfig()})
	if !errors.Is(err, node.ErrBadKey) {
		t.Fatalf("truncated key: %v, want ErrBadKey", err)
	}
	if b, _ := os.ReadFile(keyPath); len(b) != len(good)/2 {
		t.Fatalf("damaged key file was replaced")
	}
	// The failed start released the lock: fixing the key lets it start.
	os.WriteFile(keyPath, good, 0o600)
	startNode(t, dir2)

	dir3 := t.TempDir()
	node.Init(dir3)
	os.WriteFile(filepath.Join(dir3, node.ConfigFile), []byte("listen = [unterminated"), 0o644)
	if _, err := node.LoadConfig(filepath.Join(dir3, node.ConfigFile)); !errors.Is(err, node.ErrBadConfig) {
		t.Fatalf("bad config: %v, want ErrBadConfig", err)
	}
	os.WriteFile(filepath.Join(dir3, node.ConfigFile), []byte("lisen = []"), 0o644)
	if _, err := node.LoadConfig(filepath.Join(dir3, node.ConfigFile)); !errors.Is(err, node.ErrBadConfig) {
		t.Fatalf("unknown key: %v, want ErrBadConfig", err)
	}
}

func peerIDOf(key crypto.PrivKey) (peer.ID, error) { return peer.IDFromPrivateKey(key) }

// A Join still subscribing when Close or Leave of the same room runs:
// neither may touch the room's topic before it exists, nor wait forever
// for a worker that a failed subscription never started. (Under -race
// this caught Close and Leave reading the topic that Join sets.)
func TestJoinRacingCloseAndLeave(t *testing.T) {
	for i := range 8 {
		n := startNode(t, "")
		room := fmt.Sprintf("race-%d", i)
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Chat().Join(context.Background(), room) // may fail: closing
		}()
		if i%2 == 0 {
			n.Chat().Leave(context.Background(), room) // may find nothing to leave
		}
		closed := make(chan error, 1)
		go func() { closed <- n.Close() }()
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d: Close did not return", i)
		}
		<-done
	}
}

// Join and Leave of the same room racing end in one state, kept on disk:
// the room is joined (listed, and rejoined after a restart) or not at all.
// (The interleaving a review found, Leave's delete of the membership
// record between Join's subscription and its save, is narrow: this test
// did not hit it in 60 runs of the old code; it pins the invariant.)
func TestJoinRacingLeaveConsistent(t *testing.T) {
	for i := range 10 {
		dir := t.TempDir()
		n := startNode(t, dir)
		room := fmt.Sprintf("race-%d", i)
		if i%2 == 1 {
			if _, err := n.Chat().Join(t.Context(), room); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Chat().Join(context.Background(), room)
		}()
		n.Chat().Leave(context.Background(), room) // may find nothing to leave yet
		<-done
		joined := func(n *node.Node) bool {
			rooms, err := n.Chat().Rooms(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(rooms, func(r chat.Room) bool { return r.Name == room })
		}
		before := joined(n)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if after := joined(startNode(t, dir)); after != before {
			t.Fatalf("run %d: joined %v before the restart, %v after", i, before, after)
		}
	}
}
