package rpc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

const testToken = "s3cret-token"

type testServer struct {
	*rpc.Server
	node *fakeNode
	chat *fakeChat
	url  string
}

// startServer starts a server on 127.0.0.1:0 with fakes; mod may adjust
// the config. It is closed at cleanup.
func startServer(t *testing.T, mod func(*rpc.Config)) *testServer {
	t.Helper()
	return startServerWith(t, mod, newFakeChat())
}

func startServerWith(t *testing.T, mod func(*rpc.Config), fc *fakeChat) *testServer {
	t.Helper()
	cfg := rpc.DefaultConfig()
	cfg.Token = testToken
	cfg.Logger = slog.New(slog.DiscardHandler)
	if mod != nil {
		mod(&cfg)
	}
	ts := &testServer{node: &fakeNode{}, chat: fc}
	var cb rpc.ChatBackend
	if fc != nil {
		cb = fc
	}
	s, err := rpc.NewWithBackend(ts.node, cb, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ts.Server = s
	ts.url = s.URL()
	return ts
}

// post sends body with the test token (plus extra headers) and returns the
// status and body.
func (ts *testServer) post(t *testing.T, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// rpcResp is a decoded single response.
type rpcResp struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *api.Error      `json:"error"`
}

// call posts one request and decodes the single response.
func (ts *testServer) call(t *testing.T, body string) rpcResp {
	t.Helper()
	code, b := ts.post(t, body, nil)
	if code != http.StatusOK {
		t.Fatalf("POST %s: status %d body %q", body, code, b)
	}
	var r rpcResp
	dec := json.NewDecoder(bytes.NewReader([]byte(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if r.JSONRPC != "2.0" {
		t.Fatalf("jsonrpc = %q", r.JSONRPC)
	}
	return r
}
