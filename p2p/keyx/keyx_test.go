package keyx

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
)

// received collects what OnBundle got.
type received struct {
	mu sync.Mutex
	m  map[peer.ID][]byte
}

func (r *received) on(p peer.ID, raw []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[peer.ID][]byte)
	}
	r.m[p] = raw
}

func (r *received) get(p peer.ID) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[p]
}

// ownBundle is a test bundle of a real one's size: 1,413 bytes, as
// node's e2ee bundles are.
func ownBundle(p peer.ID) []byte {
	return testBundle(p, strings.Repeat("k", 1413-len(p.String())-1))
}

func startService(t testing.TB, withBundle bool, rec *received) (*Service, []byte) {
	t.Helper()
	h := newHost(t, nil)
	var own []byte
	if withBundle {
		own = ownBundle(h.ID())
	}
	cfg := testConfig()
	if rec != nil {
		cfg.OnBundle = rec.on
	}
	s, err := New(h, func() []byte { return own }, cfg)
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
	if got := ra.get(b.h.ID()); !bytes.Equal(got, ownB) {
		t.Fatalf("A got another bundle of B: %.40q", got)
	}
	if got := rb.get(a.h.ID()); !bytes.Equal(got, ownA) {
		t.Fatalf("B got another bundle of A: %.40q", got)
	}
}

// A bundle fetched on connect that Verify refuses never reaches
// OnBundle: the attacker serves another peer's bundle, then an honest
// peer's bundle arrives while the attacker's never does.
func TestOnConnectVerified(t *testing.T) {
	var rec received
	var mu sync.Mutex
	verified := make(map[peer.ID]error)
	cfg := testConfig()
	cfg.OnBundle = rec.on
	cfg.Verify = func(p peer.ID, raw []byte) error {
		err := testVerify(p, raw)
		mu.Lock()
		verified[p] = err
		mu.Unlock()
		return err
	}
	h := newHost(t, nil)
	victim, err := New(h, func() []byte { return nil }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Close() })

	m, other := newHost(t, nil), newHost(t, nil).ID()
	m.SetStreamHandler(ProtocolID, func(s network.Stream) {
		var b [1]byte
		s.Read(b[:])
		s.Write(encodeReply(ownBundle(other)))
		s.Close()
	})
	connectHosts(t, h, m)
	testwait.For(t, 10*time.Second, "the attacker's bundle verified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := verified[m.ID()]
		return ok
	})
	mu.Lock()
	if err := verified[m.ID()]; !errors.Is(err, ErrWrongPeer) {
		t.Fatalf("verify of another peer's bundle: %v, want ErrWrongPeer", err)
	}
	mu.Unlock()

	honest, _ := startService(t, true, nil)
	connectHosts(t, h, honest.h)
	testwait.For(t, 10*time.Second, "the honest bundle delivered", func() bool { return rec.get(honest.h.ID()) != nil })
	if got := rec.get(m.ID()); got != nil {
		t.Fatalf("OnBundle got the refused bundle %.40q", got)
	}
}

// A peer without a bundle answers "none", which Fetch reports as
// ErrNoBundle.
func TestFetchNone(t *testing.T) {
	a, _ := startService(t, true, nil)
	b, _ := startService(t, false, nil)
	connectHosts(t, a.h, b.h)
	if _, err := a.Fetch(t.Context(), b.h.ID()); !errors.Is(err, ErrNoBundle) {
		t.Fatalf("fetch from a peer without bundle: %v, want ErrNoBundle", err)
	}
}

// The attacker is a raw host that answers ProtocolID with whatever the
// case writes; each reply is refused with its own error, and reading an
// endless reply stops after ReplySize(MaxSize)+1 bytes.
func TestHostileServer(t *testing.T) {
	victim, _ := startService(t, true, nil)
	m := newHost(t, nil)
	connectHosts(t, victim.h, m)
	other := newHost(t, nil).ID()
	valid := ownBundle(m.ID())

	cases := []struct {
		name  string
		reply []byte
		want  error
	}{
		{"garbage", []byte("HTTP/1.1 200 OK\r\n\r\n"), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"oversized", make([]byte, 1<<20), ErrTooLarge},
		{"bundle over MaxSize", encodeReply(make([]byte, testMaxSize+1)), ErrTooLarge},
		{"length beyond bytes", []byte{1, 0, 0x80, 0x10, 1, 2, 3}, ErrMalformed},
		{"trailing bytes", append(encodeReply(valid), 0), ErrMalformed},
		{"refused by Verify", encodeReply([]byte("not a bundle")), errNotTestBundle},
		{"bundle of another peer", encodeReply(ownBundle(other)), ErrWrongPeer},
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
	// The honest reply from the same attacker still passes: the cases
	// failed on their bytes, not on the setup.
	m.SetStreamHandler(ProtocolID, func(s network.Stream) {
		var b [1]byte
		s.Read(b[:])
		s.Write(encodeReply(valid))
		s.Close()
	})
	if got, err := victim.Fetch(t.Context(), m.ID()); err != nil || !bytes.Equal(got, valid) {
		t.Fatalf("valid reply: %v", err)
	}
}

// A node whose own bundle exceeds MaxSize does not serve it (every asker
// would refuse it).
func TestServeOversizedOwn(t *testing.T) {
	h := newHost(t, nil)
	srv, err := New(h, func() []byte { return make([]byte, testMaxSize+1) }, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	asker, _ := startService(t, false, nil)
	connectHosts(t, asker.h, h)
	if got, err := asker.Fetch(t.Context(), h.ID()); err == nil {
		t.Fatalf("served %d bytes over MaxSize", len(got))
	}
}

// New refuses a Config without the caller's MaxSize or Verify, and a
// MaxSize over MaxSizeLimit.
func TestConfigNeedsCaller(t *testing.T) {
	h := newHost(t, nil)
	own := func() []byte { return nil }
	for name, mod := range map[string]func(*Config){
		"no MaxSize":    func(c *Config) { c.MaxSize = 0 },
		"huge MaxSize":  func(c *Config) { c.MaxSize = MaxSizeLimit + 1 },
		"no Verify":     func(c *Config) { c.Verify = nil },
		"negative time": func(c *Config) { c.Timeout = -1 },
	} {
		cfg := testConfig()
		mod(&cfg)
		if s, err := New(h, own, cfg); !errors.Is(err, ErrInvalidConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// A peer that never answers costs the asker Timeout, not more.
func TestFetchDeadline(t *testing.T) {
	h := newHost(t, nil)
	cfg := testConfig()
	cfg.Timeout = 300 * time.Millisecond
	victim, err := New(h, func() []byte { return nil }, cfg)
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
		if got, err := asker.Fetch(t.Context(), srv.h.ID()); err != nil || !bytes.Equal(got, own) {
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
