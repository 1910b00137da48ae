package rpc_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
)

// getPage GETs path from the server with the given Host and headers.
func getPage(t *testing.T, addr, path, host string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestChatPageServed(t *testing.T) {
	ts := startServer(t, nil)
	port := ts.Addr()[strings.LastIndex(ts.Addr(), ":")+1:]
	resp, body := getPage(t, ts.Addr(), "/", ts.Addr(), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `<script type="module" src="/app.js">`) {
		t.Fatalf("GET /: status %d, body %.200q", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://"+ts.Addr()+";") {
		t.Errorf("CSP %q does not limit connections to ws://%s", csp, ts.Addr())
	}
	tests := []struct {
		name   string
		path   string
		host   string
		hdr    map[string]string
		status int
	}{
		{"localhost", "/", "localhost:" + port, nil, 200},
		{"script", "/app.js", ts.Addr(), nil, 200},
		{"same origin", "/", ts.Addr(), map[string]string{"Origin": "http://" + ts.Addr()}, 200},
		{"unknown path", "/nope", ts.Addr(), nil, 404},
		{"rebinding host", "/", "attacker.test:" + port, nil, 403},
		{"foreign origin", "/app.js", ts.Addr(), map[string]string{"Origin": "http://evil.example"}, 403},
		{"api still needs a token", "/rpc", ts.Addr(), nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, _ := getPage(t, ts.Addr(), tt.path, tt.host, tt.hdr); resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// A bootstrap node has no chat: no page either.
func TestChatPageNeedsChat(t *testing.T) {
	ts := startServerWith(t, nil, nil)
	if resp, _ := getPage(t, ts.Addr(), "/", ts.Addr(), nil); resp.StatusCode != 404 {
		t.Fatalf("GET / on a node without chat: status %d, want 404", resp.StatusCode)
	}
}

// The page's own origin passes the Origin check even where the loopback
// list does not name it: bound to 127.0.0.2, the page is served from
// http://127.0.0.2:PORT and its calls carry that Origin; another origin
// is still refused.
func TestPageOriginIsAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	ln.Close()
	ts := startServer(t, func(c *rpc.Config) { c.Addr = "127.0.0.2:0" })
	port := ts.Addr()[strings.LastIndex(ts.Addr(), ":")+1:]
	if code, body := ts.post(t, infoReq, map[string]string{"Origin": "http://" + ts.Addr()}); code != 200 {
		t.Fatalf("POST from the page's origin: status %d (%s)", code, body)
	}
	if code, _ := ts.post(t, infoReq, map[string]string{"Origin": "http://127.0.0.3:" + port}); code != 403 {
		t.Fatalf("POST from another origin: status %d, want 403", code)
	}
	if code, _ := ts.post(t, infoReq, map[string]string{"Host": "evil.example:" + port, "Origin": "http://evil.example:" + port}); code != 403 {
		t.Fatalf("rebinding host naming itself as origin: status %d, want 403", code)
	}
}
