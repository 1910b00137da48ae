package rpc_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
)

// New fills zero fields with DefaultConfig's values, so a Config with only
// a Token serves on loopback; Validate names the field it refuses.
func TestConfigZeroFieldsTakeDefaults(t *testing.T) {
	s, err := rpc.New(&fakeNode{}, nil, rpc.Config{Token: testToken, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	for _, tt := range []struct {
		mod  func(*rpc.Config)
		want string
	}{
		{func(c *rpc.Config) { c.Token = "" }, "Token"},
		{func(c *rpc.Config) { c.WSQueue = -1 }, "WSQueue"},
		{func(c *rpc.Config) { c.MaxSubscriptions = -2 }, "MaxSubscriptions"},
	} {
		c := rpc.DefaultConfig()
		c.Token = testToken
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want it to name %s", err, tt.want)
		}
		if _, nerr := rpc.New(&fakeNode{}, nil, c); nerr == nil || !strings.HasPrefix(nerr.Error(), "rpc: config: ") {
			t.Errorf("New = %v, want rpc: config: ...", nerr)
		}
	}
}
