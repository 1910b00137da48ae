package node_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/keyx"
)

// askRaw opens proto on h to p, writes req and returns what came back
// before EOF or reset (nil when the stream was refused or reset).
func askRaw(t *testing.T, h host.Host, p peer.ID, proto protocol.ID, req []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return nil
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	s.Write(req)
	s.CloseWrite()
	ans, err := io.ReadAll(s)
	if err != nil {
		return nil
	}
	return ans
}

// admitRequest frames invite and proof as AdmitProtocol's request.
func admitRequest(invite, proof []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(invite)))
	b = append(b, invite...)
	b = binary.AppendUvarint(b, uint64(len(proof)))
	return append(b, proof...)
}

// A hostile host on 127.0.0.1 opening the admit and DM protocols as fast
// as it can gets answers for the per-peer burst, then its streams are
// reset unanswered; another peer is still served.
func TestHostileE2EEStreams(t *testing.T) {
	v := startNode(t, "")
	cases := []struct {
		proto protocol.ID
		req   []byte
	}{
		{node.AdmitProtocol, admitRequest([]byte("not an invite"), []byte("no proof"))},
		{node.DMProtocol, []byte("not a dm-init")},
	}
	for _, c := range cases {
		t.Run(string(c.proto), func(t *testing.T) {
			m := rawHost(t, genKey(t))
			if err := m.Connect(t.Context(), addrInfo(t, v)); err != nil {
				t.Fatal(err)
			}
			const tries = 40
			answered := 0
			for range tries {
				ans := askRaw(t, m, v.P2P().Host().ID(), c.proto, c.req)
				if len(ans) > 0 {
					if ans[0] != 1 {
						t.Fatalf("garbage admitted: %q", ans)
					}
					answered++
				}
			}
			if answered == 0 || answered > 5 { // burst 4, plus one refill if slow
				t.Fatalf("%d of %d requests answered, want the burst of 4", answered, tries)
			}
			other := rawHost(t, genKey(t))
			if err := other.Connect(t.Context(), addrInfo(t, v)); err != nil {
				t.Fatal(err)
			}
			if ans := askRaw(t, other, v.P2P().Host().ID(), c.proto, c.req); len(ans) == 0 || ans[0] != 1 {
				t.Fatalf("another peer after the flood: %q", ans)
			}
		})
	}
}

// forgeDMInit is a stranger's first message to the owner of bundle,
// signed by key, for a random moderated room whose genesis never
// arrives.
func forgeDMInit(t *testing.T, key crypto.PrivKey, to *e2ee.SignedBundle) []byte {
	t.Helper()
	rid := make([]byte, 20)
	rand.Read(rid)
	epoch := make([]byte, 34)
	rand.Read(epoch)
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	d, err := e2ee.SealDMInit(key, to, e2ee.Epoch{Room: "m" + enc.EncodeToString(rid), ID: epoch},
		make([]byte, e2ee.SecretSize), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d.Encode()
}

// A Sybil of fresh identities on 127.0.0.1, each handing the node a
// valid first message (DMInit) naming it: at most chat.MaxUnansweredDMs are
// joined, the rest refused with a reason.
func TestSybilDMFlood(t *testing.T) {
	v := startNode(t, "")
	before, err := v.Chat().Rooms(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const sybils = chat.MaxUnansweredDMs + 8
	joined, refused := 0, 0
	for range sybils {
		k := genKey(t)
		m := rawHost(t, k)
		if err := m.Connect(t.Context(), addrInfo(t, v)); err != nil {
			t.Fatal(err)
		}
		switch ans := askRaw(t, m, v.P2P().Host().ID(), node.DMProtocol, forgeDMInit(t, k, v.OwnBundle())); {
		case len(ans) == 1 && ans[0] == 0:
			joined++
		case len(ans) > 1 && ans[0] == 1:
			refused++
		default:
			t.Fatalf("answer %q", ans)
		}
		m.Close()
	}
	after, err := v.Chat().Rooms(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if joined != chat.MaxUnansweredDMs || refused != sybils-joined || len(after)-len(before) != joined {
		t.Fatalf("joined %d (rooms +%d), refused %d of %d; want %d joined", joined, len(after)-len(before), refused, sybils, chat.MaxUnansweredDMs)
	}
}

// A joiner with a valid invite whose key bundle never comes leaves the
// inviter's admission pending; Close ends it and returns promptly, and
// the joiner is not admitted.
func TestCloseDuringAdmission(t *testing.T) {
	v := startNode(t, "")
	_, token, err := v.Chat().CreatePrivate(t.Context(), "door")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	tok, err := e2ee.ParseToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := rawHost(t, genKey(t))
	var fetches atomic.Int32
	m.SetStreamHandler(keyx.ProtocolID, func(s network.Stream) {
		fetches.Add(1)
		io.Copy(io.Discard, s) // stall until reset
	})
	if err := m.Connect(t.Context(), addrInfo(t, v)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the on-connect bundle fetch", func() bool { return fetches.Load() >= 1 })
	proof, err := e2ee.ProveSecret(v.OwnBundle(), tok, m.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	answer := make(chan []byte, 1)
	go func() {
		answer <- askRaw(t, m, v.P2P().Host().ID(), node.AdmitProtocol, admitRequest(tok.Invite.Raw(), proof))
	}()
	testwait.For(t, 10*time.Second, "the admission's bundle fetch", func() bool { return fetches.Load() >= 2 })
	select {
	case ans := <-answer:
		t.Fatalf("answered before Close: %q", ans)
	default:
	}
	start := time.Now()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %s with an admission pending", d)
	}
	select {
	case ans := <-answer:
		if len(ans) > 0 && ans[0] == 0 {
			t.Fatal("admitted")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the admission stream outlived Close")
	}
}
