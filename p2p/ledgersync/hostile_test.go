package ledgersync

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
)

// fakeResponder serves ProtocolID on a bare host: it reads the hello and
// answers with reply (raw bytes), whatever was asked.
func fakeResponder(t *testing.T, reply []byte) *node {
	t.Helper()
	m := &node{h: newHost(t)}
	m.h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		defer s.Close()
		c := newConn(s, 5*time.Second)
		if _, err := c.next(); err != nil {
			return
		}
		_, _ = s.Write(reply)
		_, _ = c.r.ReadByte() // wait for the requester to end the session
	})
	return m
}

func frameBytes(fs ...*frame) []byte {
	var b []byte
	for _, f := range fs {
		b = appendFrame(b, f)
	}
	return b
}

func TestHostileResponder(t *testing.T) {
	dag := makeDAG(t, testRoom, 40, 2, 9)
	other := makeDAG(t, "otherroom", 1, 1, 10)
	good := dag[20].Raw() // valid, in the room, but never asked for
	forged := bytes.Clone(dag[21].Raw())
	forged[len(forged)-5] ^= 1 // inside the signature
	cases := []struct {
		name  string
		reply []byte
		want  string
	}{
		{"forged signature", frameBytes(&frame{typ: frameEvents, events: [][]byte{good, forged}}, &frame{typ: frameEnd}), "invalid event"},
		{"malformed frame", append(binary.AppendUvarint(nil, 3), frameRanges, 5, 1), "malformed"},
		{"other room", frameBytes(&frame{typ: frameEvents, events: [][]byte{other[0].Raw()}}, &frame{typ: frameEnd}), "for room"},
		{"unrequested event", frameBytes(&frame{typ: frameEvents, events: [][]byte{good}}, &frame{typ: frameEnd}), "not requested"},
		{"oversized frame", binary.AppendUvarint(nil, MaxFrameSize+1), "too large"},
	}
	honest := newNode(t, manual())
	load(t, honest.store, dag)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newNode(t, manual())
			load(t, b.store, dag[:10]) // b has some events: nothing is pushed unasked
			m := fakeResponder(t, tc.reply)
			connect(t, b.h, m.h)
			_, err := b.sy.Sync(t.Context(), m.h.ID(), testRoom)
			if !errors.Is(err, ErrMisbehaving) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("got %v, want ErrMisbehaving mentioning %q", err, tc.want)
			}
			if n := count(t, b.store); n != 10 {
				t.Fatalf("stored %d events from a bad session", n-10)
			}
			if b.bad.count(m.h.ID()) != 1 {
				t.Fatalf("misbehaviour reported %d times", b.bad.count(m.h.ID()))
			}
			// An honest peer still syncs fine.
			connect(t, b.h, honest.h)
			if _, err := b.sy.Sync(t.Context(), honest.h.ID(), testRoom); err != nil {
				t.Fatal(err)
			}
			if count(t, b.store) != len(dag) {
				t.Fatalf("honest sync: %d events, want %d", count(t, b.store), len(dag))
			}
		})
	}
}

// TestDefaultPenalty: without OnMisbehave, a misbehaving peer is tagged and
// disconnected.
func TestDefaultPenalty(t *testing.T) {
	dag := makeDAG(t, testRoom, 5, 1, 11)
	b := &node{h: newHost(t), store: newStore(t)}
	sy, err := New(b.h, b.store, Config{Manual: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sy.Close() })
	load(t, b.store, dag[:2])
	m := fakeResponder(t, frameBytes(&frame{typ: frameEvents, events: [][]byte{dag[4].Raw()}}, &frame{typ: frameEnd}))
	connect(t, b.h, m.h)
	if _, err := sy.Sync(t.Context(), m.h.ID(), testRoom); !errors.Is(err, ErrMisbehaving) {
		t.Fatalf("got %v", err)
	}
	if ti := b.h.ConnManager().GetTagInfo(m.h.ID()); ti != nil && ti.Tags["parley-bad"] != -100 {
		t.Fatalf("tags %v", ti.Tags)
	}
	if c := b.h.Network().Connectedness(m.h.ID()); c == network.Connected {
		t.Fatal("still connected to a misbehaving peer")
	}
}

// TestHostileRequester: a requester that sends garbage is cut off and
// reported; the responder keeps serving others.
func TestHostileRequester(t *testing.T) {
	a := newNode(t, manual())
	load(t, a.store, makeDAG(t, testRoom, 20, 1, 12))
	m := newHost(t)
	connect(t, m, a.h)
	s, err := m.NewStream(t.Context(), a.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(s, 5*time.Second)
	_ = c.send(&frame{typ: frameHello, room: testRoom, fp: fp16{count: 1}})
	_, _ = c.w.Write(binary.AppendUvarint(nil, MaxFrameSize+100))
	_ = c.flush()
	testwait.For(t, 10*time.Second, "the garbling requester reported", func() bool { return a.bad.count(m.ID()) == 1 })
}

// TestFrameTooLargeNotAllocated: an announced length over the maximum is
// refused before a buffer for it exists.
func TestFrameTooLargeNotAllocated(t *testing.T) {
	in := binary.AppendUvarint(nil, 1<<40)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readFrame(bufio.NewReader(bytes.NewReader(in)), nil, MaxFrameSize, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("allocated %d bytes for a refused frame", d)
	}
	// Lists inside a frame cannot claim more entries than the frame holds.
	body := binary.AppendUvarint([]byte{frameWant}, 1<<30)
	if _, err := decodeFrame(body); !errors.Is(err, errMalformed) {
		t.Fatalf("want list: %v", err)
	}
}

// blockRecorder is a Blocker that records its calls.
type blockRecorder struct {
	mu    sync.Mutex
	calls map[peer.ID]time.Duration
}

func (b *blockRecorder) Block(p peer.ID, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[p] = d
}

func (b *blockRecorder) blockedFor(p peer.ID) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[p]
}

// TestBlockerToldOfMisbehaviour: with Config.Blocker, a misbehaving peer
// is blocked at the connection level for BlockFor (and still reported to
// OnMisbehave).
func TestBlockerToldOfMisbehaviour(t *testing.T) {
	const blockFor = 7 * time.Minute
	bl := &blockRecorder{calls: map[peer.ID]time.Duration{}}
	dag := makeDAG(t, testRoom, 5, 1, 11)
	b := newNode(t, Config{Manual: true, Blocker: bl, BlockFor: blockFor})
	load(t, b.store, dag[:2])
	m := fakeResponder(t, frameBytes(&frame{typ: frameEvents, events: [][]byte{dag[4].Raw()}}, &frame{typ: frameEnd}))
	connect(t, b.h, m.h)
	if _, err := b.sy.Sync(t.Context(), m.h.ID(), testRoom); !errors.Is(err, ErrMisbehaving) {
		t.Fatalf("got %v", err)
	}
	if d := bl.blockedFor(m.h.ID()); d != blockFor {
		t.Fatalf("blocked for %v, want %v", d, blockFor)
	}
	if b.bad.count(m.h.ID()) != 1 {
		t.Fatal("not reported to OnMisbehave")
	}
}
