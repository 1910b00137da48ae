package ledgersync

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
)

// only admits the given peers to testRoom and everyone to other rooms.
func only(ps ...peer.ID) func(string, peer.ID) bool {
	return func(room string, p peer.ID) bool {
		if room != testRoom {
			return true
		}
		for _, q := range ps {
			if p == q {
				return true
			}
		}
		return false
	}
}

// rawReply plays a requester with no syncer: it sends a Hello for room to
// p and returns every byte of the answer until p closes the stream.
func rawReply(t *testing.T, h host.Host, p peer.ID, room string) []byte {
	t.Helper()
	s, err := h.NewStream(t.Context(), p, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	c := newConn(s, 5*time.Second)
	if err := c.send(&frame{typ: frameHello, room: room, fp: fp16{count: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read answer for %q: %v", room, err)
	}
	return b
}

// TestAllowRefusedLooksUnjoined plays a peer outside a private room: its
// Hello for the room gets the very bytes a Hello for a room the responder
// never joined gets, its syncer sees ErrRoomUnknown, and the room's
// session count does not move; a member of the room syncs normally.
func TestAllowRefusedLooksUnjoined(t *testing.T) {
	member := newNode(t, manual())
	a := newNode(t, Config{Manual: true, Allow: func(room string, p peer.ID) bool {
		return only(member.h.ID())(room, p)
	}})
	stranger := newNode(t, manual())
	load(t, a.store, makeDAG(t, testRoom, 40, 3, 7))
	connect(t, stranger.h, a.h)
	connect(t, member.h, a.h)

	private := rawReply(t, stranger.h, a.h.ID(), testRoom)
	unjoined := rawReply(t, stranger.h, a.h.ID(), "elsewhere")
	if len(private) == 0 || !bytes.Equal(private, unjoined) {
		t.Fatalf("answer for the private room %x differs from the answer for an unjoined room %x", private, unjoined)
	}
	if f, err := decodeFrame(private[1:]); err != nil || private[0] != byte(len(private)-1) || f.typ != frameError || f.code != codeRoomUnknown {
		t.Fatalf("answer is %+v (%v), want a room-unknown Error frame", f, err)
	}
	if _, err := stranger.sy.Sync(t.Context(), a.h.ID(), testRoom); !errors.Is(err, ErrRoomUnknown) {
		t.Fatalf("stranger's sync: %v, want ErrRoomUnknown", err)
	}
	if n := count(t, stranger.store); n != 0 {
		t.Fatalf("stranger got %d events", n)
	}
	if s := a.sy.Status(testRoom).Sessions; s != 0 {
		t.Fatalf("refused sessions counted as served: %d", s)
	}
	if a.bad.count(stranger.h.ID()) != 0 || stranger.bad.count(a.h.ID()) != 0 {
		t.Fatal("a refusal was taken as misbehaviour")
	}

	if _, err := member.sy.Sync(t.Context(), a.h.ID(), testRoom); err != nil {
		t.Fatalf("member's sync: %v", err)
	}
	if !bytes.Equal(history(t, member.store), history(t, a.store)) {
		t.Fatal("member's history differs after sync")
	}
}

// TestAllowRequesterNeverHellosStrangers: a syncer whose rule refuses a
// peer never opens a sync stream to it, whether asked directly (Sync),
// triggered, on identification or periodically, while it syncs the
// member it admits.
func TestAllowRequesterNeverHellosStrangers(t *testing.T) {
	member := newNode(t, manual())
	load(t, member.store, makeDAG(t, testRoom, 30, 2, 9))

	// The stranger speaks sync (so identification and periodic syncs
	// consider it) and counts every stream opened to it.
	stranger := newHost(t)
	var streams atomic.Int32
	for _, v := range protocols {
		stranger.SetStreamHandler(v, func(s network.Stream) {
			streams.Add(1)
			_ = s.Reset()
		})
	}
	var (
		mu    sync.Mutex
		asked int // how often the rule was asked about the stranger
	)
	allow := only(member.h.ID())
	a := newNode(t, Config{Interval: 50 * time.Millisecond, Allow: func(room string, p peer.ID) bool {
		if p == stranger.ID() {
			mu.Lock()
			asked++
			mu.Unlock()
		}
		return allow(room, p)
	}})
	connect(t, a.h, stranger)
	connect(t, a.h, member.h)
	waitCount(t, a.store, 30) // the member's events arrive by background sync
	testwait.For(t, 10*time.Second, "periodic syncs to consider the stranger", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return asked >= 5
	})
	a.sy.Trigger(testRoom, stranger.ID())
	if _, err := a.sy.Sync(t.Context(), stranger.ID(), testRoom); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Sync with the stranger: %v, want ErrNotAllowed", err)
	}
	if n := streams.Load(); n != 0 {
		t.Fatalf("%d sync streams opened to the stranger", n)
	}
	if st := a.sy.Status(testRoom); st.LastError != "" {
		t.Fatalf("a refusal recorded as a failure: %q", st.LastError)
	}
}

// TestAllowRefusalTiming: a refused Hello is answered as fast as one for
// a room never joined (the same path, no ledger read), so timing does not
// tell a private room from an absent one. 200 of each, interleaved, on a
// room of 2,000 events; the bound is loose (2× the p50, plus 0.5 ms) so
// that only real work on the refused path (a summary or key snapshot of
// the room) fails it.
func TestAllowRefusalTiming(t *testing.T) {
	member := newNode(t, manual())
	a := newNode(t, Config{Manual: true, Allow: only(member.h.ID())})
	stranger := newNode(t, manual())
	load(t, a.store, makeDAG(t, testRoom, 2000, 3, 7))
	connect(t, stranger.h, a.h)
	var refused, unjoined []time.Duration
	for i := range 400 {
		room, into := testRoom, &refused
		if i%2 == 1 {
			room, into = "elsewhere", &unjoined
		}
		start := time.Now()
		rawReply(t, stranger.h, a.h.ID(), room)
		*into = append(*into, time.Since(start))
	}
	slices.Sort(refused)
	slices.Sort(unjoined)
	r, u := refused[len(refused)/2], unjoined[len(unjoined)/2]
	t.Logf("reply p50: refused %v, unjoined %v (p90 %v, %v)", r, u, refused[len(refused)*9/10], unjoined[len(unjoined)*9/10])
	if r > 2*u+500*time.Microsecond {
		t.Fatalf("a refused Hello took %v (p50), one for an unjoined room %v", r, u)
	}
}
