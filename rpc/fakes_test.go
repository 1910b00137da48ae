package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

// fakeNode is a NodeAPI double. Connect's address selects the behaviour.
type fakeNode struct {
	connects atomic.Int64
}

func (n *fakeNode) Info(context.Context) (api.NodeInfo, error) {
	return api.NodeInfo{PeerID: "12D3KooWTest", Addrs: []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWTest"}, Version: "test", Peers: 1, Rooms: 2}, nil
}

func (n *fakeNode) Peers(context.Context) ([]api.PeerInfo, error) {
	return []api.PeerInfo{{PeerID: "12D3KooWPeer", Addrs: []string{"/ip4/127.0.0.1/tcp/4002"}}}, nil
}

func (n *fakeNode) Connect(ctx context.Context, addr string) error {
	n.connects.Add(1)
	switch addr {
	case "panic":
		panic("boom")
	case "unreachable":
		return fmt.Errorf("dial backoff: %w", rpc.ErrUnreachable)
	case "plain":
		return errors.New("no good addresses")
	case "bad":
		return fmt.Errorf("parse multiaddr: %w", rpc.ErrInvalidArgument)
	case "slow":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// fakeSub is a subscription double; the test pushes with push and ends it
// with end.
type fakeSub struct {
	c      chan chat.Message
	mu     sync.Mutex
	err    error
	closed bool
	filter chat.Filter
	gone   chan struct{} // closed when the channel is closed
}

func newFakeSub(f chat.Filter, buf int) *fakeSub {
	return &fakeSub{c: make(chan chat.Message, buf), filter: f, gone: make(chan struct{})}
}

func (s *fakeSub) C() <-chan chat.Message { return s.c }

func (s *fakeSub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeSub) Close() error { s.end(nil); return nil }

func (s *fakeSub) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	close(s.c)
	close(s.gone)
}

// push delivers m unless the subscription ended; it never blocks.
func (s *fakeSub) push(m chat.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.c <- m:
		return true
	default:
		return false
	}
}

// fakeChat is a chat backend double.
type fakeChat struct {
	subBuf int
	subs   chan *fakeSub // every new subscription
	sends  atomic.Int64
	// Sends to room "gather" wait (up to 5 s) until gatherN of them are
	// running at once: they succeed only if the server runs that many
	// calls together.
	gatherN  int
	gathered atomic.Int64
	gatherMu sync.Mutex
	gatherCh chan struct{}
}

// gather waits until gatherN sends are running together; false after 5 s.
func (c *fakeChat) gather(ctx context.Context) bool {
	c.gatherMu.Lock()
	if c.gatherCh == nil {
		c.gatherCh = make(chan struct{})
	}
	ch := c.gatherCh
	if c.gathered.Add(1) == int64(c.gatherN) {
		close(ch)
	}
	c.gatherMu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
	return false
}

func newFakeChat() *fakeChat { return &fakeChat{subBuf: 16, subs: make(chan *fakeSub, 16)} }

func (c *fakeChat) room(name string) (chat.Room, error) {
	switch name {
	case "", "nope":
		return chat.Room{}, chat.ErrUnknownRoom
	}
	return chat.Room{ID: "id-" + name, Name: name}, nil
}

func (c *fakeChat) Join(_ context.Context, name string) (chat.Room, error) {
	if strings.ContainsAny(name, " !") {
		return chat.Room{}, fmt.Errorf("join %q: %w", name, chat.ErrInvalidName)
	}
	return c.room(name)
}

// AwaitGenesis: the fake's rooms are never moderated, so room_join does
// not call it; it answers as for a room that holds its genesis.
func (c *fakeChat) AwaitGenesis(_ context.Context, room string) (chat.Room, error) {
	return c.room(strings.TrimPrefix(room, "id-"))
}

func (c *fakeChat) Leave(_ context.Context, room string) error {
	_, err := c.room(room)
	return err
}

func (c *fakeChat) Rooms(context.Context) ([]chat.Room, error) { return nil, nil }

func (c *fakeChat) ListRooms(ctx context.Context) ([]chat.Room, error) { return c.Rooms(ctx) }

func (c *fakeChat) Members(_ context.Context, room string) ([]chat.Member, error) {
	if _, err := c.room(room); err != nil {
		return nil, err
	}
	return []chat.Member{}, nil
}

func (c *fakeChat) Send(ctx context.Context, room, text string) (chat.Message, error) {
	c.sends.Add(1)
	switch {
	case room == "gather" && !c.gather(ctx):
		return chat.Message{}, fmt.Errorf("only %d of %d sends ran together", c.gathered.Load(), c.gatherN)
	case room == "outsider":
		return chat.Message{}, chat.ErrNotMember
	case room == "broken":
		return chat.Message{}, fmt.Errorf("put: %w", rpc.ErrStorage)
	case room == "brokendisk":
		return chat.Message{}, fmt.Errorf("store event: %w: input/output error", chat.ErrStorage)
	case room == "undurable":
		return chat.Message{}, fmt.Errorf("store event: %w: fsync: disk on fire", chat.ErrNotDurable)
	case text == "":
		return chat.Message{}, chat.ErrEmptyMessage
	case len(text) > 100:
		return chat.Message{}, chat.ErrTooLarge
	}
	r, err := c.room(room)
	if err != nil {
		return chat.Message{}, err
	}
	return msg(r.ID, text, 1), nil
}

func msg(room, text string, n int) chat.Message {
	return chat.Message{ID: fmt.Sprintf("m%d", n), Room: room, Author: "12D3KooWTest", Text: text,
		Time: "2025-01-02T03:04:05Z", Lamport: uint64(n), Parents: []string{}, Cursor: fmt.Sprintf("c%d", n)}
}

func (c *fakeChat) History(_ context.Context, room string, q chat.HistoryQuery) ([]chat.Message, error) {
	if q.Before == "bogus" {
		return nil, chat.ErrBadCursor
	}
	if room == "big" {
		return bigHistory(q), nil
	}
	r, err := c.room(room)
	if err != nil {
		return nil, err
	}
	n := q.Limit
	if n == 0 {
		n = 2
	}
	var out []chat.Message
	for i := 1; i <= n; i++ {
		out = append(out, msg(r.ID, "hello", i))
	}
	return out, nil
}

// bigRoom is the size of room "big": bigRoomLen messages b1..bN with
// bigText texts, ~570 bytes each on the wire, as in the attack.
const (
	bigRoomLen  = 5000
	bigTextSize = 400
)

var bigText = strings.Repeat("t", bigTextSize)

// bigHistory pages room "big" like chat.History: the newest q.Limit
// (capped at 1000) before q.Before, oldest first.
func bigHistory(q chat.HistoryQuery) []chat.Message {
	end := bigRoomLen + 1
	if q.Before != "" {
		fmt.Sscanf(q.Before, "b%d", &end)
	}
	n := min(max(q.Limit, 1), 1000)
	var out []chat.Message
	for i := max(1, end-n); i < end; i++ {
		m := msg("id-big", bigText, i)
		m.ID = fmt.Sprintf("b%d", i)
		out = append(out, m)
	}
	return out
}

func (c *fakeChat) Subscribe(_ context.Context, f chat.Filter) (rpc.Subscription, error) {
	if f.Room != "" {
		if _, err := c.room(f.Room); err != nil {
			return nil, err
		}
	}
	s := newFakeSub(f, c.subBuf)
	c.subs <- s
	return s, nil
}

func (c *fakeChat) Verify(_ context.Context, room string) (chat.VerifyReport, error) {
	return chat.VerifyReport{OK: true, Events: 3}, nil
}

var (
	_ rpc.NodeAPI     = (*fakeNode)(nil)
	_ rpc.ChatBackend = (*fakeChat)(nil)
)

func (c *fakeChat) Create(_ context.Context, name string, private bool) (chat.Room, error) {
	if private {
		return chat.Room{}, chat.ErrPrivateRooms
	}
	return chat.Room{ID: "m-" + name, Name: name, Moderated: true}, nil
}

func (c *fakeChat) Moderate(_ context.Context, room, op, peer, policy string) error {
	if strings.HasPrefix(room, "m-") {
		return nil
	}
	return chat.ErrNoAdmins
}

func (c *fakeChat) CreatePrivate(context.Context, string) (chat.Room, string, error) {
	return chat.Room{}, "", chat.ErrPrivateRooms
}

func (c *fakeChat) JoinInvite(context.Context, string) (chat.Room, error) {
	return chat.Room{}, chat.ErrPrivateRooms
}

func (c *fakeChat) Invite(context.Context, string, string) (string, error) {
	return "", chat.ErrPrivateRooms
}

func (c *fakeChat) Kick(context.Context, string, string) error { return chat.ErrPrivateRooms }

func (c *fakeChat) RevokeInvite(context.Context, string, string) error { return chat.ErrPrivateRooms }

func (c *fakeChat) Invites(context.Context, string) ([]chat.InviteInfo, error) {
	return nil, chat.ErrPrivateRooms
}

func (c *fakeChat) DMSend(context.Context, string, string) (chat.Message, error) {
	return chat.Message{}, chat.ErrPrivateRooms
}

func (c *fakeChat) DMRoom(string) (chat.Room, bool, error) { return chat.Room{}, false, nil }

func (c *fakeChat) Admins(_ context.Context, room string) ([]string, error) {
	if strings.HasPrefix(room, "m-") {
		return []string{"12D3KooWTest"}, nil
	}
	return nil, chat.ErrNoAdmins
}
