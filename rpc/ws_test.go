package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (ts *testServer) dialWS(t *testing.T, hdr http.Header, query string) (*wsClient, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.url, "http") + query
	c, resp, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}, resp, nil
}

func (ts *testServer) mustWS(t *testing.T) *wsClient {
	t.Helper()
	c, _, err := ts.dialWS(t, http.Header{"Authorization": {"Bearer " + testToken}}, "")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func (w *wsClient) send(s string) {
	w.t.Helper()
	if err := w.c.Write(w.t.Context(), websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsClient) read() (string, error) {
	ctx, cancel := context.WithTimeout(w.t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	return string(b), err
}

func (w *wsClient) mustRead() string {
	w.t.Helper()
	s, err := w.read()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return s
}

func waitSub(t *testing.T, fc *fakeChat) *fakeSub {
	t.Helper()
	select {
	case s := <-fc.subs:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription reached chat")
		return nil
	}
}

func waitGone(t *testing.T, s *fakeSub) {
	t.Helper()
	select {
	case <-s.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not closed")
	}
}

func TestWebSocketAuth(t *testing.T) {
	ts := startServer(t, nil)
	port := ts.Addr()[strings.LastIndex(ts.Addr(), ":")+1:]
	tests := []struct {
		name   string
		hdr    http.Header
		query  string
		status int // 0: upgrade succeeds
	}{
		{"header", http.Header{"Authorization": {"Bearer " + testToken}}, "", 0},
		{"query token", nil, "?token=" + testToken, 0},
		{"no token", nil, "", 401},
		{"wrong query token", nil, "?token=x", 401},
		{"foreign origin", http.Header{"Origin": {"http://evil.example"}}, "?token=" + testToken, 403},
		{"localhost origin", http.Header{"Origin": {"http://localhost:" + port}}, "?token=" + testToken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := ts.dialWS(t, tt.hdr, tt.query)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.send(infoReq)
				if got := c.mustRead(); !strings.Contains(got, `"peerId":"12D3KooWTest"`) {
					t.Fatalf("got %s", got)
				}
				return
			}
			if err == nil || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("dial err %v resp %v, want status %d", err, resp, tt.status)
			}
		})
	}
}

func TestWebSocketProtocol(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	c.send(`{"jsonrpc":"2.0","id":1,"method":"nope"}`)
	if got, want := c.mustRead(), `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found: nope"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	c.send(`{bad`)
	if got := c.mustRead(); !strings.Contains(got, `-32700`) {
		t.Fatalf("got %s", got)
	}
	// Notifications get nothing: the next thing read answers the request after.
	c.send(`{"jsonrpc":"2.0","method":"node_info"}`)
	c.send(`[{"jsonrpc":"2.0","id":"b","method":"node_connect","params":["panic"]}]`)
	if got, want := c.mustRead(), `[{"jsonrpc":"2.0","id":"b","error":{"code":-32603,"message":"internal error"}}]`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

type notif struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  struct {
		Subscription string          `json:"subscription"`
		Result       *api.Message    `json:"result"`
		Error        *api.Error      `json:"error"`
		Extra        json.RawMessage `json:"-"`
	} `json:"params"`
}

func subscribe(t *testing.T, c *wsClient, filter string) string {
	t.Helper()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"chat_subscribe","params":["messages",` + filter + `]}`)
	var r rpcResp
	if err := json.Unmarshal([]byte(c.mustRead()), &r); err != nil || r.Error != nil {
		t.Fatalf("subscribe: %v %+v", err, r.Error)
	}
	var id string
	if err := json.Unmarshal(r.Result, &id); err != nil || id == "" {
		t.Fatalf("subscription id %s: %v", r.Result, err)
	}
	return id
}

func TestWebSocketSubscribe(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	id := subscribe(t, c, `{"room":"general","since":"c0"}`)
	sub := waitSub(t, ts.chat)
	if sub.filter != (chat.Filter{Room: "general", Since: "c0"}) {
		t.Fatalf("filter = %+v", sub.filter)
	}
	for i := 1; i <= 3; i++ {
		sub.push(msg("id-general", "hello", i))
	}
	for i := 1; i <= 3; i++ {
		raw := c.mustRead()
		want := `{"jsonrpc":"2.0","method":"chat_subscription","params":{"subscription":"` + id + `","result":{"id":"m` + string(rune('0'+i)) + `","room":"id-general","author":"12D3KooWTest","text":"hello","time":"2025-01-02T03:04:05Z","lamport":` + string(rune('0'+i)) + `,"parents":[],"cursor":"c` + string(rune('0'+i)) + `"}}}`
		if raw != want {
			t.Fatalf("notification\n got %s\nwant %s", raw, want)
		}
	}
	// Unknown subscription, then a real unsubscribe.
	c.send(`{"jsonrpc":"2.0","id":2,"method":"chat_unsubscribe","params":["0xnope"]}`)
	if got := c.mustRead(); !strings.Contains(got, `"code":-32007`) {
		t.Fatalf("got %s", got)
	}
	c.send(`{"jsonrpc":"2.0","id":3,"method":"chat_unsubscribe","params":["` + id + `"]}`)
	if got, want := c.mustRead(), `{"jsonrpc":"2.0","id":3,"result":true}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	waitGone(t, sub)
	c.send(`{"jsonrpc":"2.0","id":4,"method":"chat_unsubscribe","params":["` + id + `"]}`)
	if got := c.mustRead(); !strings.Contains(got, `"code":-32007`) {
		t.Fatalf("second unsubscribe: %s", got)
	}
}

func TestWebSocketSubscribeErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	c.send(`{"jsonrpc":"2.0","id":1,"method":"chat_subscribe","params":["messages",{"room":"nope"}]}`)
	if got := c.mustRead(); !strings.Contains(got, `"code":-32001`) {
		t.Fatalf("got %s", got)
	}
	c.send(`{"jsonrpc":"2.0","id":1,"method":"chat_subscribe","params":["messages",{"rooom":"x"}]}`)
	if got := c.mustRead(); !strings.Contains(got, `unknown field \"rooom\"`) {
		t.Fatalf("got %s", got)
	}
}

func TestSubscriptionEndsWithError(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	id := subscribe(t, c, `{"since":"c0"}`)
	sub := waitSub(t, ts.chat)
	sub.push(msg("r", "a", 1))
	sub.push(msg("r", "b", 2))
	sub.end(errors.New("replay: ledger read failed"))
	c.mustRead()
	c.mustRead()
	var n notif
	raw := c.mustRead()
	if err := json.Unmarshal([]byte(raw), &n); err != nil {
		t.Fatal(err)
	}
	if n.Method != "chat_subscription" || n.Params.Subscription != id || n.Params.Result != nil || n.Params.Error == nil {
		t.Fatalf("final notification %s", raw)
	}
	if n.Params.Error.Code != api.CodeSubscriptionDropped || string(n.Params.Error.Data) != `{"cursor":"c2"}` {
		t.Fatalf("final error %+v data %s", n.Params.Error, n.Params.Error.Data)
	}
	// The connection stays usable.
	c.send(infoReq)
	if got := c.mustRead(); !strings.Contains(got, "peerId") {
		t.Fatalf("got %s", got)
	}
}

func TestSubscriptionsEndWithConnection(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	subscribe(t, c, `{}`)
	subscribe(t, c, `{"room":"general"}`)
	s1, s2 := waitSub(t, ts.chat), waitSub(t, ts.chat)
	c.c.Close(websocket.StatusNormalClosure, "")
	waitGone(t, s1)
	waitGone(t, s2)
}

func TestCloseEndsWebSockets(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustWS(t)
	subscribe(t, c, `{}`)
	sub := waitSub(t, ts.chat)
	done := make(chan error, 1)
	go func() { done <- ts.Close() }()
	_, err := c.read()
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after Close: %v, want status 1001", err)
	}
	waitGone(t, sub)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
}

// A client that never reads must not stall the node: once one write has
// waited WSWriteTimeout its connection is closed, and pushing never blocks.
func TestSlowWebSocketClient(t *testing.T) {
	fc := newFakeChat()
	fc.subBuf = 4096
	const writeTimeout = 300 * time.Millisecond
	ts := startServerWith(t, func(c *rpc.Config) { c.WSQueue = 4; c.WSWriteTimeout = writeTimeout }, fc)
	c := ts.mustWS(t)
	subscribe(t, c, `{}`)
	sub := waitSub(t, fc)
	big := strings.Repeat("x", 64<<10)
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for n := 1; ; n++ {
		select {
		case <-sub.gone:
			// The server gave up on the client and ended the subscription,
			// not before a write had waited the deadline.
			if d := time.Since(start); d < writeTimeout {
				t.Fatalf("dropped after %s, before the %s write deadline", d, writeTimeout)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("slow client never dropped")
		}
		if !sub.push(msg("r", big, n)) {
			time.Sleep(time.Millisecond)
		}
	}
}

// A burst far larger than the connection's queue reaches a client that
// reads: notifications wait for the socket instead of dropping it.
func TestWebSocketBurstReachesReader(t *testing.T) {
	fc := newFakeChat()
	fc.subBuf = 4096
	ts := startServerWith(t, func(c *rpc.Config) { c.WSQueue = 16 }, fc)
	c := ts.mustWS(t)
	subscribe(t, c, `{}`)
	sub := waitSub(t, fc)
	const burst = 3000
	text := strings.Repeat("y", 512)
	for n := 1; n <= burst; n++ {
		if !sub.push(msg("r", text, n)) {
			t.Fatalf("push %d refused", n)
		}
	}
	for n := 1; n <= burst; n++ {
		var note notif
		if err := json.Unmarshal([]byte(c.mustRead()), &note); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if note.Params.Result == nil || note.Params.Result.Lamport != uint64(n) {
			t.Fatalf("message %d: got %+v", n, note.Params)
		}
	}
	select {
	case <-sub.gone:
		t.Fatal("the reading client's subscription ended")
	default:
	}
}
