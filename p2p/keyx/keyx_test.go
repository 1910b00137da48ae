package keyx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
)

// received collects what OnBundle got.
type received struct {
	mu sync.Mutex
	m  map[peer.ID]*e2ee.SignedBundle
}

func (r *received) on(p peer.ID, s *e2ee.SignedBundle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[peer.ID]*e2ee.SignedBundle)
	}
	r.m[p] = s
}

func (r *received) get(p peer.ID) *e2ee.SignedBundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[p]
}

func startService(t testing.TB, withBundle bool, rec *received) (*Service, *e2ee.SignedBundle) {
	t.Helper()
	key := newKey(t)
	h := newHost(t, key)
	var own *e2ee.SignedBundle
	if withBundle {
		own = bundleOf(t, key, 1, time.Now(), e2ee.MaxBundleLifetime)
	}
	cfg := DefaultConfig()
	if rec != nil {
		cfg.OnBundle = rec.on
	}
	s, err := New(h, func() *e2ee.SignedBundle { return own }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, own
}

// Two hosts exchange bundles as soon as they connect, each way, with no
// call but Connect.
func TestExchangeOnConnect(t *testing.T) {
	var ra, rb received
	a, ownA := startService(t, true, &ra)
	b, ownB := startService(t, true, &rb)
	connectHosts(t, a.h, b.h)
	testwait.For(t, 10*time.Second, "bundles exchanged both ways", func() bool {
		return ra.get(b.h.ID()) != nil && rb.get(a.h.ID()) != nil
	})
	if got := ra.get(b.h.ID()); got.Hash() != ownB.Hash() {
		t.Fatalf("A got another bundle of B: seq %d", got.Seq)
	}
	if got := rb.get(a.h.ID()); got.Hash() != ownA.Hash() {
		t.Fatalf("B got another bundle of A: seq %d", got.Seq)
	}
}

// A peer without a bundle answers "none", which Fetch reports as
// e2ee.ErrNoBundle.
func TestFetchNone(t *testing.T) {
	a, _ := startService(t, true, nil)
	b, _ := startService(t, false, nil)
	connectHosts(t, a.h, b.h)
	if _, err := a.Fetch(t.Context(), b.h.ID()); !errors.Is(err, e2ee.ErrNoBundle) {
		t.Fatalf("fetch from a peer without bundle: %v, want ErrNoBundle", err)
	}
}

// The attacker is a raw host that answers ProtocolID with whatever the
// case writes; each reply is refused with its own error, and reading an
// endless reply stops after MaxReplySize+1 bytes.
func TestHostileServer(t *testing.T) {
	victim, _ := startService(t, true, nil)
	mKey := newKey(t)
	other := newKey(t)
	m := newHost(t, mKey)
	connectHosts(t, victim.h, m)

	valid := bundleOf(t, mKey, 3, time.Now(), time.Hour)
	othersBundle := bundleOf(t, other, 1, time.Now(), time.Hour)
	forged := forgeBundle(t, other, m.ID())

	cases := []struct {
		name  string
		reply []byte
		want  error
	}{
		{"garbage", []byte("HTTP/1.1 200 OK\r\n\r\n"), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"oversized", make([]byte, 1<<20), ErrTooLarge},
		{"length beyond bytes", []byte{1, 0, 0x80, 0x10, 1, 2, 3}, ErrMalformed},
		{"trailing bytes", append(encodeReply(valid.Raw()), 0), ErrMalformed},
		{"not a bundle", encodeReply([]byte("not an envelope")), e2ee.ErrMalformed},
		{"bundle of another peer", encodeReply(othersBundle.Raw()), ErrWrongPeer},
		{"signed by another key", encodeReply(forged), e2ee.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.SetStreamHandler(ProtocolID, func(s network.Stream) {
				var b [1]byte
				s.Read(b[:])
				s.Write(c.reply)
				s.Close()
			})
			_, err := victim.Fetch(t.Context(), m.ID())
			if !errors.Is(err, c.want) {
				t.Fatalf("fetch: %v, want %v", err, c.want)
			}
		})
	}
	// The honest reply from the same attacker still parses: the cases
	// failed on their bytes, not on the setup.
	m.SetStreamHandler(ProtocolID, func(s network.Stream) {
		var b [1]byte
		s.Read(b[:])
		s.Write(encodeReply(valid.Raw()))
		s.Close()
	})
	if got, err := victim.Fetch(t.Context(), m.ID()); err != nil || got.Hash() != valid.Hash() {
		t.Fatalf("valid reply: %v", err)
	}
}

// A peer that never answers costs the asker Timeout, not more.
func TestFetchDeadline(t *testing.T) {
	key := newKey(t)
	h := newHost(t, key)
	cfg := DefaultConfig()
	cfg.Timeout = 300 * time.Millisecond
	victim, err := New(h, func() *e2ee.SignedBundle { return nil }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Close() })
	m := newHost(t, nil)
	m.SetStreamHandler(ProtocolID, func(s network.Stream) {
		// Reads the request and then trickles nothing.
		var b [1]byte
		s.Read(b[:])
		time.Sleep(5 * time.Second)
		s.Reset()
	})
	connectHosts(t, h, m)
	start := time.Now()
	_, err = victim.Fetch(context.Background(), m.ID())
	if err == nil {
		t.Fatal("fetch from a silent peer succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("fetch took %v with a %v timeout", d, cfg.Timeout)
	}
}

// A peer asking more than ServeBurst times in a window is reset
// unanswered; others are still served.
func TestServeRateLimit(t *testing.T) {
	srv, own := startService(t, true, nil)
	asker, _ := startService(t, false, nil)
	connectHosts(t, asker.h, srv.h)
	testwait.For(t, 5*time.Second, "on-connect fetch counted", func() bool {
		srv.served.mu.Lock()
		defer srv.served.mu.Unlock()
		return srv.served.counts[asker.h.ID()] == 1
	})
	for i := 1; i < DefaultConfig().ServeBurst; i++ {
		if got, err := asker.Fetch(t.Context(), srv.h.ID()); err != nil || got.Hash() != own.Hash() {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if _, err := asker.Fetch(t.Context(), srv.h.ID()); err == nil {
		t.Fatal("request over the burst was answered")
	}
	third, _ := startService(t, false, nil)
	connectHosts(t, third.h, srv.h)
	if _, err := third.Fetch(t.Context(), srv.h.ID()); err != nil {
		t.Fatalf("another peer refused: %v", err)
	}
}
