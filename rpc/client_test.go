package rpc_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

func TestClientCall(t *testing.T) {
	ts := startServer(t, nil)
	c := client.Dial(ts.url, testToken)
	var info api.NodeInfo
	if err := c.Call(t.Context(), "node_info", nil, &info); err != nil || info.PeerID != "12D3KooWTest" {
		t.Fatalf("node_info = %+v, %v", info, err)
	}
	var m api.Message
	if err := c.Call(t.Context(), "msg_send", []any{"general", "hi"}, &m); err != nil || m.Text != "hi" {
		t.Fatalf("msg_send = %+v, %v", m, err)
	}
	err := c.Call(t.Context(), "room_leave", []any{"nope"}, nil)
	var re *api.Error
	if !errors.As(err, &re) || re.Code != api.CodeUnknownRoom {
		t.Fatalf("room_leave error = %v, want code %d", err, api.CodeUnknownRoom)
	}
	if err := client.Dial(ts.url, "wrong").Call(t.Context(), "node_info", nil, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	url := ts.url
	ts.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // drop keep-alives to the closed server
	if err := client.Dial(url, testToken).Call(t.Context(), "node_info", nil, nil); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("after Close: %v, want ErrNotRunning", err)
	}
}

func TestClientBatch(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.MaxBatch = 4 })
	c := client.Dial(ts.url, testToken)
	var (
		info api.NodeInfo
		m    api.Message
	)
	calls := []client.BatchCall{
		{Method: "node_info", Result: &info},
		{Method: "msg_send", Params: []any{"general", "hi"}, Result: &m},
		{Method: "room_leave", Params: []any{"nope"}},
		{Method: "msg_send", Params: []any{"general"}},
	}
	if err := c.Batch(t.Context(), calls); err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if calls[0].Err != nil || info.PeerID != "12D3KooWTest" {
		t.Errorf("node_info = %+v, %v", info, calls[0].Err)
	}
	if calls[1].Err != nil || m.Text != "hi" {
		t.Errorf("msg_send = %+v, %v", m, calls[1].Err)
	}
	for i, code := range map[int]api.Code{2: api.CodeUnknownRoom, 3: api.CodeInvalidParams} {
		var re *api.Error
		if !errors.As(calls[i].Err, &re) || re.Code != code {
			t.Errorf("call %d (%s): error %v, want code %d", i, calls[i].Method, calls[i].Err, code)
		}
	}
	if err := c.Batch(t.Context(), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	// Over MaxBatch the node refuses the whole batch with one error.
	big := make([]client.BatchCall, 5)
	for i := range big {
		big[i].Method = "node_info"
	}
	var re *api.Error
	if err := c.Batch(t.Context(), big); !errors.As(err, &re) || re.Code != api.CodeInvalidRequest {
		t.Fatalf("batch of 5 over a limit of 4: %v, want code %d", err, api.CodeInvalidRequest)
	}
}

func TestReadEndpoint(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := client.ReadEndpoint(dir); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, client.AddrFile), []byte("http://127.0.0.1:1234/rpc\n"), 0o644)
	if _, _, err := client.ReadEndpoint(dir); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("no token: %v", err)
	}
	os.WriteFile(filepath.Join(dir, client.TokenFile), []byte("tok\n"), 0o600)
	u, tok, err := client.ReadEndpoint(dir)
	if err != nil || u != "http://127.0.0.1:1234/rpc" || tok != "tok" {
		t.Fatalf("ReadEndpoint = %q %q %v", u, tok, err)
	}
	os.WriteFile(filepath.Join(dir, client.AddrFile), []byte("127.0.0.1:1234"), 0o644)
	if _, _, err := client.ReadEndpoint(dir); err == nil {
		t.Fatal("non-URL rpc.addr accepted")
	}
}

func TestClientSubscribe(t *testing.T) {
	ts := startServer(t, nil)
	c := client.Dial(ts.url, testToken)
	if _, err := c.Subscribe(t.Context(), "nope", ""); !errors.As(err, new(*api.Error)) {
		t.Fatalf("unknown room: %v", err)
	}
	sub, err := c.Subscribe(t.Context(), "general", "c0")
	if err != nil {
		t.Fatal(err)
	}
	fs := waitSub(t, ts.chat)
	fs.push(msg("id-general", "a", 1))
	fs.push(msg("id-general", "b", 2))
	for i, want := range []string{"a", "b"} {
		select {
		case m := <-sub.C():
			if m.Text != want {
				t.Fatalf("message %d = %q", i, m.Text)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
	fs.end(errors.New("replay: ledger read failed"))
	for range sub.C() {
	}
	var re *api.Error
	if err := sub.Err(); !errors.As(err, &re) || re.Code != api.CodeSubscriptionDropped || sub.Cursor() != "c2" {
		t.Fatalf("Err = %v, Cursor = %q", err, sub.Cursor())
	}
	sub.Close()

	sub, err = c.Subscribe(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	fs = waitSub(t, ts.chat)
	if err := sub.Close(); err != nil || sub.Err() != nil {
		t.Fatalf("Close = %v, Err = %v", err, sub.Err())
	}
	waitGone(t, fs)
}
