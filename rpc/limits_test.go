package rpc_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// Over HTTP the bucket is per remote IP: a burst beyond it gets 429 with
// Retry-After and -32011 for every request, nothing runs, and the client is
// served again once the bucket refilled.
func TestHTTPRateLimit(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.RateLimit = 20; c.RateBurst = 5; c.MaxBatch = 4 })
	for i := range 5 {
		if code, body := ts.post(t, infoReq, nil); code != 200 {
			t.Fatalf("request %d: status %d %s", i, code, body)
		}
	}
	before := ts.node.connects.Load()
	code, body := ts.post(t, `[{"jsonrpc":"2.0","id":1,"method":"node_connect","params":["a"]},{"jsonrpc":"2.0","method":"node_connect","params":["b"]},{"jsonrpc":"2.0","id":2,"method":"node_info"}]`, nil)
	if code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429 (body %s)", code, body)
	}
	var resps []rpcResp
	if err := json.Unmarshal([]byte(body), &resps); err != nil || len(resps) != 2 {
		t.Fatalf("body %s: %v", body, err)
	}
	for _, r := range resps {
		var d api.RateLimitData
		if r.Error == nil || r.Error.Code != api.CodeRateLimited || json.Unmarshal(r.Error.Data, &d) != nil || d.RetryAfterMs <= 0 {
			t.Fatalf("response %+v", r)
		}
	}
	if n := ts.node.connects.Load() - before; n != 0 {
		t.Fatalf("%d calls of a refused batch ran", n)
	}
	// The Go client reports it as ErrRateLimited.
	if err := client.Dial(ts.url, testToken).Call(t.Context(), "node_info", nil, nil); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("client: %v, want ErrRateLimited", err)
	}
	// Refilled after 1/20 s per token.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := ts.post(t, infoReq, nil)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never served again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHTTPRateLimitRetryAfter(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.RateLimit = 0.5; c.RateBurst = 1; c.MaxBatch = 1 })
	ts.post(t, infoReq, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url, strings.NewReader(`{"bad json`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Over WebSocket each connection has its own bucket; refused requests get
// -32011 and the connection stays open, while a second connection is
// unaffected.
func TestWebSocketRateLimit(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.RateLimit = 1; c.RateBurst = 3; c.MaxBatch = 2 })
	a := ts.mustWS(t) // costs one token of the IP's HTTP bucket
	for i := range 3 {
		a.send(infoReq)
		if got := a.mustRead(); !strings.Contains(got, "peerId") {
			t.Fatalf("request %d: %s", i, got)
		}
	}
	a.send(`{"jsonrpc":"2.0","id":9,"method":"node_info"}`)
	got := a.mustRead()
	if !strings.Contains(got, `"id":9,"error":{"code":-32011`) || !strings.Contains(got, "retryAfterMs") {
		t.Fatalf("over the limit: %s", got)
	}
	b := ts.mustWS(t)
	b.send(infoReq)
	if got := b.mustRead(); !strings.Contains(got, "peerId") {
		t.Fatalf("other connection: %s", got)
	}
}

func TestRateLimitOff(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.RateLimit = -1; c.RateBurst = 1 })
	for i := range 50 {
		if code, _ := ts.post(t, infoReq, nil); code != 200 {
			t.Fatalf("request %d: status %d", i, code)
		}
	}
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.MaxConns = 2 })
	ts.mustWS(t)
	ts.mustWS(t)
	_, resp, err := ts.dialWS(t, http.Header{"Authorization": {"Bearer " + testToken}}, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: err %v resp %v, want 503", err, resp)
	}
	// HTTP is unaffected.
	if code, _ := ts.post(t, infoReq, nil); code != 200 {
		t.Fatalf("POST: %d", code)
	}
}

func TestMaxSubscriptions(t *testing.T) {
	fc := newFakeChat()
	ts := startServerWith(t, func(c *rpc.Config) { c.MaxSubscriptions = 2 }, fc)
	c := ts.mustWS(t)
	subscribe(t, c, `{}`)
	subscribe(t, c, `{}`)
	c.send(`{"jsonrpc":"2.0","id":3,"method":"chat_subscribe","params":["messages"]}`)
	if got := c.mustRead(); !strings.Contains(got, `"code":-32012`) {
		t.Fatalf("third subscription: %s", got)
	}
}
