package node

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/chat"
)

// author_rate and peer_rate in config.toml set chat's gossip limits: 0
// keeps the default, a rate sets rate and burst, -1 turns a limit off, and
// anything else is a config error that names the setting.
func TestConfigRateLimits(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want chat.Limits
	}{
		{"", chat.DefaultLimits()},
		{"author_rate = 100\n", chat.Limits{AuthorRate: 100, AuthorBurst: 500, PeerRate: 200, PeerBurst: 500, NewcomerRate: 10, NewcomerBurst: 1000}},
		{"author_rate = -1\npeer_rate = 1000\n", chat.Limits{AuthorRate: -1, PeerRate: 1000, PeerBurst: 2500, NewcomerRate: 10, NewcomerBurst: 1000}},
		{"peer_rate = 0.1\n", chat.Limits{AuthorRate: 20, AuthorBurst: 100, PeerRate: 0.1, PeerBurst: 1, NewcomerRate: 10, NewcomerBurst: 1000}},
	} {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.chatLimits()
		if err != nil || got != tc.want {
			t.Errorf("%q: limits %+v, %v; want %+v", tc.toml, got, err, tc.want)
		}
	}
	for _, bad := range []Config{{AuthorRate: -5}, {PeerRate: math.Inf(1)}, {AuthorRate: math.NaN()}, {PeerRate: 1e300}} {
		_, err := New(t.Context(), Options{DataDir: t.TempDir(), Config: bad, NoRPC: true})
		if !errors.Is(err, ErrBadConfig) {
			t.Fatalf("%+v: err = %v, want ErrBadConfig", bad, err)
		}
	}
}
