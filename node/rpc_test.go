package node_test

// Tests of the JSON-RPC API against a real node (node.New on 127.0.0.1,
// RPC on 127.0.0.1:0), through the files a desktop app reads: <data>/rpc.addr
// and <data>/rpc.token.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// rpcNode is a real node and an RPC client built from its data directory.
type rpcNode struct {
	*node.Node
	url, token string
	c          *client.Client
}

// startRPCNode starts a node with an in-memory datastore (fast sends) and
// reads its endpoint files like an app would.
func startRPCNode(t *testing.T, mod ...func(*node.Options)) *rpcNode {
	t.Helper()
	dir := t.TempDir()
	mod = append([]func(*node.Options){func(o *node.Options) {
		o.Datastore = dssync.MutexWrap(ds.NewMapDatastore())
	}}, mod...)
	n := startNode(t, dir, mod...)
	url, token, err := client.ReadEndpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if url != n.RPCURL() {
		t.Fatalf("rpc.addr = %q, RPCURL() = %q", url, n.RPCURL())
	}
	return &rpcNode{Node: n, url: url, token: token, c: client.Dial(url, token)}
}

func (n *rpcNode) call(t *testing.T, method string, params []any, result any) {
	t.Helper()
	if err := n.c.Call(t.Context(), method, params, result); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// post sends a raw body and returns the HTTP status and body.
func (n *rpcNode) post(t *testing.T, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, n.url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (n *rpcNode) dialWS(t *testing.T) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.url, "http"),
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + n.token}}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// dialWSSmallBuffer is dialWS with SO_RCVBUF fixed to size, which turns
// off receive-buffer autotuning for that socket.
func (n *rpcNode) dialWSSmallBuffer(t *testing.T, size int) *websocket.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = setRcvBuf(fd, size)
		})
		return errors.Join(err, serr)
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.url, "http"),
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + n.token}}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func recvN(t *testing.T, sub *client.Subscription, n int, timeout time.Duration) []api.Message {
	t.Helper()
	var got []api.Message
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages: %v", len(got), n, sub.Err())
			}
			got = append(got, m)
		case <-deadline:
			t.Fatalf("timed out with %d of %d messages", len(got), n)
		}
	}
	return got
}

// (a) Subscribing with since = the cursor of message k replays exactly
// messages k+1..N, then continues with live ones: no gap, no duplicate,
// also when the live ones are sent while the replay runs.
func TestRPCSubscribeReplay(t *testing.T) {
	n := startRPCNode(t)
	var room api.Room
	n.call(t, "room_join", []any{"general"}, &room)
	const N, k, live = 30, 7, 20
	var sent []api.Message
	for i := 1; i <= N; i++ {
		var m api.Message
		n.call(t, "msg_send", []any{"general", fmt.Sprintf("history %d", i)}, &m)
		sent = append(sent, m)
	}
	since := sent[k-1].Cursor
	if since == "" {
		t.Fatal("message without cursor")
	}
	sub, err := n.c.Subscribe(t.Context(), "general", since)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Live messages race with the replay.
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= live; i++ {
			var m api.Message
			if err := n.c.Call(context.Background(), "msg_send", []any{"general", fmt.Sprintf("live %d", i)}, &m); err != nil {
				done <- err
				return
			}
			sent = append(sent, m)
		}
		done <- nil
	}()
	got := recvN(t, sub, N-k+live, 5*time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := wireIDs(sent[k:]); !slices.Equal(wireIDs(got), want) {
		t.Fatalf("received\n%v\nwant\n%v", texts(got), texts(sent[k:]))
	}
	select {
	case m := <-sub.C():
		t.Fatalf("extra message %q", m.Text)
	case <-time.After(200 * time.Millisecond):
	}
	if sub.Cursor() != sent[len(sent)-1].Cursor {
		t.Fatalf("cursor %q, want %q", sub.Cursor(), sent[len(sent)-1].Cursor)
	}
	// Resuming from the last cursor gives nothing old.
	sub2, err := n.c.Subscribe(t.Context(), "general", sub.Cursor())
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	var m api.Message
	n.call(t, "msg_send", []any{"general", "after resume"}, &m)
	if got := recvN(t, sub2, 1, 5*time.Second); got[0].ID != m.ID {
		t.Fatalf("after resume got %q", got[0].Text)
	}
}

func wireIDs(msgs []api.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func texts(msgs []api.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return out
}

// dropWatch is a log handler that signals when the RPC server drops a
// WebSocket client for not reading.
type dropWatch struct {
	slog.Handler
	sig *dropSignal
}

type dropSignal struct {
	once    sync.Once
	dropped chan struct{}
}

func newDropWatch() *dropWatch {
	return &dropWatch{Handler: slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}),
		sig: &dropSignal{dropped: make(chan struct{})}}
}

func (d *dropWatch) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "too slow, dropping it") {
		d.sig.once.Do(func() { close(d.sig.dropped) })
	}
	return d.Handler.Handle(ctx, r)
}

func (d *dropWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return &dropWatch{Handler: d.Handler.WithAttrs(as), sig: d.sig}
}

func (d *dropWatch) WithGroup(name string) slog.Handler {
	return &dropWatch{Handler: d.Handler.WithGroup(name), sig: d.sig}
}

// (b) 100 WebSocket subscribers and one client that never reads. The
// non-reader's subscription replays a large history into it; it must be
// dropped (once a write has waited the write deadline, shortened here)
// while the others receive every live message, node_info stays fast and
// memory stays bounded.
func TestRPCSlowSubscriberDoesNotStall(t *testing.T) {
	watch := newDropWatch()
	n := startRPCNode(t, func(o *node.Options) {
		o.Logger = slog.New(watch)
		o.RPC = func(c *rpc.Config) { c.WSWriteTimeout = 2 * time.Second }
	})
	ctx := t.Context()
	if _, err := n.Chat().Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	// ~12 MB of history: more than the kernel socket buffers (a few MB)
	// plus the server's per-connection queue can hold.
	const history, size = 1000, 12 << 10
	big := strings.Repeat("x", size)
	for i := range history {
		if _, err := n.Chat().Send(ctx, "general", fmt.Sprint(i, big)); err != nil {
			t.Fatal(err)
		}
	}
	heapBefore := heapInuse()

	const readers, live = 100, 200
	subs := make([]*client.Subscription, readers)
	for i := range subs {
		s, err := n.c.Subscribe(ctx, "general", "")
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		subs[i] = s
		t.Cleanup(func() { s.Close() })
	}

	// The non-reader replays everything from cursor 0, then never reads.
	// Its socket gets a small fixed receive buffer: with Linux's
	// autotuning (tcp_rmem max 32 MiB here) the kernel alone could swallow
	// the whole replay and the test would prove nothing.
	stuck := n.dialWSSmallBuffer(t, 64<<10)
	req := `{"jsonrpc":"2.0","id":1,"method":"chat_subscribe","params":["messages",{"room":"general","since":"0"}]}`
	if err := stuck.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := stuck.Read(ctx); err != nil || !bytes.Contains(b, []byte(`"result":"0x`)) {
		t.Fatalf("subscribe: %s %v", b, err)
	}

	start := time.Now()
	var sendErr error
	var sent []string
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := range live {
			m, err := n.Chat().Send(context.Background(), "general", fmt.Sprint("live ", i))
			if err != nil {
				sendErr = err
				return
			}
			sent = append(sent, m.ID)
		}
	}()

	// node_info stays fast during the flood.
	var slowest time.Duration
	for range 10 {
		t0 := time.Now()
		var info api.NodeInfo
		n.call(t, "node_info", nil, &info)
		slowest = max(slowest, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	if slowest > time.Second {
		t.Errorf("node_info took %s during the flood", slowest)
	}

	var wg sync.WaitGroup
	results := make([][]string, readers)
	errs := make([]error, readers)
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := time.After(8 * time.Second)
			for len(results[i]) < live {
				select {
				case m, ok := <-s.C():
					if !ok {
						errs[i] = fmt.Errorf("ended: %v", s.Err())
						return
					}
					results[i] = append(results[i], m.ID)
				case <-timeout:
					errs[i] = fmt.Errorf("timed out with %d of %d", len(results[i]), live)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-sendDone
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	for i := range subs {
		if errs[i] != nil {
			t.Fatalf("subscriber %d: %v", i, errs[i])
		}
		if !slices.Equal(results[i], sent) {
			t.Fatalf("subscriber %d got a different sequence", i)
		}
	}
	t.Logf("%d subscribers got %d live messages each in %s; slowest node_info %s", readers, live, time.Since(start), slowest)

	// The non-reader was dropped: draining it ends with an error before
	// it saw everything. Wait for the server to drop it first: on a busy
	// machine its replay of the history can still be under way, and a
	// drain that started early would make room for it.
	select {
	case <-watch.sig.dropped:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not drop the client that never reads")
	}
	got := 0
	rctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	var rerr error
	for {
		_, _, err := stuck.Read(rctx)
		if err != nil {
			rerr = err
			break
		}
		got++
	}
	if rctx.Err() != nil {
		t.Fatalf("non-reader still connected after reading %d notifications", got)
	}
	if got >= history+live {
		t.Fatalf("non-reader got all %d notifications; it should have been dropped", got)
	}
	t.Logf("non-reader dropped after %d of %d notifications: %v", got, history+live, rerr)

	// The node still serves, and memory is bounded.
	var info api.NodeInfo
	n.call(t, "node_info", nil, &info)
	for _, s := range subs {
		s.Close()
	}
	if after := heapInuse(); after > heapBefore+64<<20 {
		t.Errorf("heap in use grew from %d MB to %d MB", heapBefore>>20, after>>20)
	} else {
		t.Logf("heap in use %d MB before, %d MB after", heapBefore>>20, after>>20)
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// (c) Bad input against the real node gets the right codes, over HTTP and
// WebSocket, and the node keeps serving.
func TestRPCBadInput(t *testing.T) {
	n := startRPCNode(t)
	tests := []struct {
		name, body string
		code       api.Code
	}{
		{"bad JSON", `{"jsonrpc":"2.0","id":1,"method":"node_info"`, api.CodeParseError},
		{"truncated batch", `[{"jsonrpc":"2.0","id":1,"method":"node_info"},`, api.CodeParseError},
		{"not JSON-RPC", `{"id":1,"method":"node_info"}`, api.CodeInvalidRequest},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"room_destroy","params":[]}`, api.CodeMethodNotFound},
		{"wrong param type", `{"jsonrpc":"2.0","id":1,"method":"msg_send","params":["general",42]}`, api.CodeInvalidParams},
		{"missing param", `{"jsonrpc":"2.0","id":1,"method":"room_join","params":[]}`, api.CodeInvalidParams},
		{"named params", `{"jsonrpc":"2.0","id":1,"method":"room_join","params":{"name":"general"}}`, api.CodeInvalidParams},
		{"unknown field", `{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["general",{"limt":1}]}`, api.CodeInvalidParams},
		{"too many params", `{"jsonrpc":"2.0","id":1,"method":"node_info","params":[1]}`, api.CodeInvalidParams},
		{"unknown room", `{"jsonrpc":"2.0","id":1,"method":"msg_send","params":["nowhere","hi"]}`, api.CodeNotMember},
		{"bad cursor", `{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["general",{"before":"zzz"}]}`, api.CodeInvalidArgument},
	}
	var room api.Room
	n.call(t, "room_join", []any{"general"}, &room)
	ws := n.dialWS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := n.post(t, tt.body)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			check := func(via, body string) {
				var r struct {
					ID    json.RawMessage
					Error *api.Error
				}
				if err := json.Unmarshal([]byte(body), &r); err != nil || r.Error == nil {
					t.Fatalf("%s: %s", via, body)
				}
				if r.Error.Code != tt.code {
					t.Fatalf("%s: code %d (%s), want %d", via, r.Error.Code, r.Error.Message, tt.code)
				}
			}
			check("HTTP", body)
			if err := ws.Write(t.Context(), websocket.MessageText, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			_, b, err := ws.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			check("WebSocket", string(b))
		})
	}
	// Still serving, on both transports.
	var info api.NodeInfo
	n.call(t, "node_info", nil, &info)
	if info.PeerID == "" || info.Rooms != 1 {
		t.Fatalf("node_info after bad input: %+v", info)
	}
	var m api.Message
	n.call(t, "msg_send", []any{"general", "still here"}, &m)
	if err := ws.Write(t.Context(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":2,"method":"room_list"}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(t.Context()); err != nil || !bytes.Contains(b, []byte(`"name":"general"`)) {
		t.Fatalf("room_list over WebSocket: %s %v", b, err)
	}
}

// The results of the main methods on a real node have the shape that
// rpc.discover documents in its examples (and docs/API.md shows): the same
// fields with the same JSON types. IDs, times and counts differ, so only
// shapes are compared.
func TestRPCResultShapes(t *testing.T) {
	n := startRPCNode(t, func(o *node.Options) { o.Config.Name = "alice" })
	var doc struct {
		Methods []struct {
			Name     string
			Examples []struct {
				Params []struct{ Value json.RawMessage }
				Result *struct{ Value json.RawMessage }
			}
		}
	}
	n.call(t, "rpc.discover", nil, &doc)
	examples := map[string][]json.RawMessage{}
	results := map[string]json.RawMessage{}
	for _, m := range doc.Methods {
		if len(m.Examples) == 0 || m.Examples[0].Result == nil {
			continue
		}
		for _, p := range m.Examples[0].Params {
			examples[m.Name] = append(examples[m.Name], p.Value)
		}
		results[m.Name] = m.Examples[0].Result.Value
	}
	// In an order where each example's params make sense on a fresh node.
	for _, name := range []string{"room_join", "node_info", "room_list", "msg_send", "msg_history", "ledger_verify", "node_peers"} {
		t.Run(name, func(t *testing.T) {
			want, ok := results[name]
			if !ok {
				t.Fatalf("no example for %s in rpc.discover", name)
			}
			params := make([]any, len(examples[name]))
			for i, p := range examples[name] {
				params[i] = p
			}
			var got json.RawMessage
			n.call(t, name, params, &got)
			if name == "node_peers" {
				return // no peers on a lone node: [] has no element shape
			}
			gs, ws := shape(t, got), shape(t, want)
			if gs != ws {
				t.Fatalf("result shape\n got %s\nwant %s\n(result %s)", gs, ws, got)
			}
		})
	}
}

// shape renders a JSON value's structure: object keys (sorted) with the
// shapes of their values, the shape of an array's first element, and the
// type names of scalars.
func shape(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var f func(any) string
	f = func(v any) string {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + ":" + f(v[k])
			}
			return "{" + strings.Join(parts, ",") + "}"
		case []any:
			if len(v) == 0 {
				return "[]"
			}
			return "[" + f(v[0]) + "]"
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "bool"
		case nil:
			return "null"
		}
		return "?"
	}
	return f(v)
}

// rpcAt is a JSON-RPC client of the node whose data dir is dir, from the
// endpoint and token the daemon writes there.
func rpcAt(t testing.TB, dir string) *client.Client {
	t.Helper()
	url, token, err := client.ReadEndpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return client.Dial(url, token)
}
