package rpc_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
)

const infoReq = `{"jsonrpc":"2.0","id":1,"method":"node_info"}`

func TestHTTPSecurity(t *testing.T) {
	ts := startServer(t, nil)
	port := ts.Addr()[strings.LastIndex(ts.Addr(), ":")+1:]
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"ok", nil, 200},
		{"missing token", map[string]string{"Authorization": ""}, 401},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"token prefix", map[string]string{"Authorization": "Bearer " + testToken[:4]}, 401},
		{"basic scheme", map[string]string{"Authorization": "Basic " + testToken}, 401},
		{"lower-case scheme", map[string]string{"Authorization": "bearer " + testToken}, 200},
		{"foreign host", map[string]string{"Host": "evil.example:" + port}, 403},
		{"rebinding host", map[string]string{"Host": "attacker.test"}, 403},
		{"wrong port host", map[string]string{"Host": "127.0.0.1:1"}, 403},
		{"localhost host", map[string]string{"Host": "localhost:" + port}, 200},
		{"ipv6 loopback host", map[string]string{"Host": "[::1]:" + port}, 200},
		{"foreign origin", map[string]string{"Origin": "http://evil.example"}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"origin other port", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"https origin", map[string]string{"Origin": "https://127.0.0.1:" + port}, 403},
		{"loopback origin", map[string]string{"Origin": "http://127.0.0.1:" + port}, 200},
		{"localhost origin", map[string]string{"Origin": "http://localhost:" + port}, 200},
		{"foreign origin no token", map[string]string{"Origin": "http://evil.example", "Authorization": ""}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ts.post(t, infoReq, tt.hdr)
			if code != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", code, tt.status, body)
			}
			if code == 401 && body != "" {
				t.Errorf("401 body = %q, want empty", body)
			}
		})
	}
}

func TestQueryTokenOnlyForWebSocket(t *testing.T) {
	ts := startServer(t, nil)
	ts.url += "?token=" + testToken
	if code, _ := ts.post(t, infoReq, map[string]string{"Authorization": ""}); code != 401 {
		t.Fatalf("POST with ?token=: status %d, want 401", code)
	}
}

func TestAllowedOrigins(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.AllowedOrigins = []string{"tauri://localhost"} })
	if code, _ := ts.post(t, infoReq, map[string]string{"Origin": "tauri://localhost"}); code != 200 {
		t.Fatalf("status %d, want 200", code)
	}
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.MaxBodyBytes = 1024 })
	big := `{"jsonrpc":"2.0","id":1,"method":"msg_send","params":["r","` + strings.Repeat("x", 2048) + `"]}`
	if code, _ := ts.post(t, big, nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", code)
	}
	if ts.chat.sends.Load() != 0 {
		t.Fatal("oversized request was executed")
	}
	if code, _ := ts.post(t, infoReq, nil); code != 200 {
		t.Fatalf("after 413: status %d", code)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	ts := startServer(t, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: status %d, want 405", resp.StatusCode)
	}
}

func TestConfigValidate(t *testing.T) {
	base := rpc.DefaultConfig()
	base.Token = "t"
	tests := []struct {
		name    string
		mod     func(*rpc.Config)
		wantErr error // nil: valid; errAny: some error
	}{
		{"default", func(*rpc.Config) {}, nil},
		{"localhost", func(c *rpc.Config) { c.Addr = "localhost:0" }, nil},
		{"ipv6 loopback", func(c *rpc.Config) { c.Addr = "[::1]:0" }, nil},
		{"wildcard", func(c *rpc.Config) { c.Addr = "0.0.0.0:0" }, rpc.ErrNonLoopback},
		{"empty host", func(c *rpc.Config) { c.Addr = ":8545" }, rpc.ErrNonLoopback},
		{"lan ip", func(c *rpc.Config) { c.Addr = "192.0.2.7:0" }, rpc.ErrNonLoopback},
		{"hostname", func(c *rpc.Config) { c.Addr = "example.com:0" }, rpc.ErrNonLoopback},
		{"wildcard allowed", func(c *rpc.Config) { c.Addr = "0.0.0.0:0"; c.AllowRemote = true }, nil},
		{"no token", func(c *rpc.Config) { c.Token = "" }, errAny},
		{"no port", func(c *rpc.Config) { c.Addr = "127.0.0.1" }, errAny},
		{"negative limit", func(c *rpc.Config) { c.MaxBodyBytes = -1 }, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Validate = %v, want %v", err, tt.wantErr)
			}
			_, nerr := rpc.New(&fakeNode{}, nil, c)
			if (err == nil) != (nerr == nil) {
				t.Fatalf("New = %v, Validate = %v", nerr, err)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestLifecycle(t *testing.T) {
	cfg := rpc.DefaultConfig()
	cfg.Token = testToken
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := rpc.New(&fakeNode{}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "" {
		t.Fatalf("URL before Start = %q", s.URL())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/rpc") || strings.HasSuffix(s.URL(), ":0/rpc") {
		t.Fatalf("URL = %q", s.URL())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Post(s.URL(), "application/json", strings.NewReader(infoReq)); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestCloseBeforeStart(t *testing.T) {
	cfg := rpc.DefaultConfig()
	cfg.Token = testToken
	s, err := rpc.New(&fakeNode{}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}
