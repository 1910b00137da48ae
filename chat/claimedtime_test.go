package chat

import (
	"crypto/rand"
	"math"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/ledger"
)

// An author may claim any time; what the API shows is always RFC 3339,
// clamped into years 0001–9999 (before: 2^62 ms rendered as
// "146140482-04-24T…").
func TestClaimedTimeIsRFC3339(t *testing.T) {
	for _, tt := range []struct {
		ms   int64
		want string
	}{
		{1 << 62, "9999-12-31T23:59:59.999Z"},
		{math.MaxInt64, "9999-12-31T23:59:59.999Z"},
		{-1 << 62, "0001-01-01T00:00:00Z"},
		{math.MinInt64, "0001-01-01T00:00:00Z"},
		{0, "1970-01-01T00:00:00Z"},
		{1735787045123, "2025-01-02T03:04:05.123Z"},
	} {
		got := claimedTime(tt.ms).Format(time.RFC3339Nano)
		if got != tt.want {
			t.Errorf("claimedTime(%d) = %q, want %q", tt.ms, got, tt.want)
		}
		if _, err := time.Parse(time.RFC3339Nano, got); err != nil {
			t.Errorf("claimedTime(%d) = %q: not RFC 3339: %v", tt.ms, got, err)
		}
	}
}

// A signed message event claiming time 2^62 ms keeps it in its signed
// bytes and shows the clamped time.
func TestMessageClaimingFarFuture(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ledger.Sign(key, ledger.Draft{Room: "r", Kind: ledger.KindMsg, Body: []byte(`{"text":"hi"}`),
		Time: time.UnixMilli(1 << 62), Lamport: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Time != 1<<62 {
		t.Fatalf("signed time %d", ev.Time)
	}
	m, ok := toMessage(ev, "")
	if !ok || m.Time != "9999-12-31T23:59:59.999Z" {
		t.Fatalf("message time %q (ok %v)", m.Time, ok)
	}
}
