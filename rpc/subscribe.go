package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
)

var mChatSubscribe = &method{
	Name:    "chat_subscribe",
	Summary: "Subscribe to new messages (WebSocket only); since replays what came after that cursor first. Notifications: chat_subscription {subscription, result: Message}.",
	Params: []paramSpec{
		{Name: "kind", Summary: `the feed; only "messages"`, Schema: schema{"type": "string", "enum": []string{"messages"}}, Required: true},
		{Name: "filter", Summary: "room and resume cursor; omitted: all joined rooms, live only", Schema: ref("SubscribeFilter")},
	},
	Result:        paramSpec{Name: "subscription", Summary: "subscription ID", Schema: sString},
	NeedsChat:     true,
	WebSocketOnly: true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeInvalidArgument, api.CodeUnsupported, api.CodeLimitExceeded},
	Example:       `["messages",{"room":"general","since":"41"}]`,
	ExampleResult: `"0x9f0c2ab4d1e83f5a7b6c0d1e2f3a4b5c"`,
	Handler: func(_ context.Context, _ *Server, env *callEnv, p params) (any, error) {
		kind, err := p.str(0)
		if err != nil {
			return nil, err
		}
		if kind != "messages" {
			return nil, p.invalid(0, "unsupported subscription kind %q (want \"messages\")", kind)
		}
		var f api.SubscribeFilter
		if p.has(1) {
			if err := p.decode(1, &f); err != nil {
				return nil, err
			}
		}
		if env.conn == nil {
			return nil, newError(api.CodeUnsupported, "chat_subscribe needs a WebSocket connection (GET the same URL with a WebSocket upgrade)")
		}
		return env.conn.subscribe(env, f)
	},
}

var mChatUnsubscribe = &method{
	Name:          "chat_unsubscribe",
	Summary:       "End a subscription of this WebSocket connection.",
	Params:        []paramSpec{{Name: "subscription", Schema: sNonEmpty, Required: true}},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	NeedsChat:     true,
	WebSocketOnly: true,
	Errors:        []api.Code{api.CodeUnknownSubscription, api.CodeUnsupported},
	Example:       `["0x9f0c2ab4d1e83f5a7b6c0d1e2f3a4b5c"]`,
	ExampleResult: `true`,
	Handler: func(_ context.Context, _ *Server, env *callEnv, p params) (any, error) {
		id, err := p.str(0)
		if err != nil {
			return nil, err
		}
		if env.conn == nil {
			return nil, newError(api.CodeUnsupported, "chat_unsubscribe needs a WebSocket connection")
		}
		env.conn.mu.Lock()
		sub, ok := env.conn.subs[id]
		delete(env.conn.subs, id)
		env.conn.mu.Unlock()
		if !ok {
			return nil, newError(api.CodeUnknownSubscription, "unknown subscription %q", id)
		}
		sub.stop()
		return true, nil
	},
}

// wsSub bridges one chat subscription to its connection.
type wsSub struct {
	id    string
	sub   subscription
	since string
	done  chan struct{} // closed by stop: ended by us, no final notification
	once  sync.Once
}

func (w *wsSub) stop() {
	w.once.Do(func() {
		close(w.done)
		w.sub.Close()
	})
}

func newSubID() string {
	var b [16]byte
	rand.Read(b[:])
	return "0x" + hex.EncodeToString(b[:])
}

// subscribe opens a chat subscription and registers it. Its bridge
// goroutine starts at once but pushes nothing until env's after-hooks run,
// i.e. until the response carrying the ID has been queued.
func (c *wsConn) subscribe(env *callEnv, f api.SubscribeFilter) (string, error) {
	c.mu.Lock()
	full := len(c.subs) >= c.s.cfg.MaxSubscriptions
	c.mu.Unlock()
	if full {
		return "", c.tooManySubs()
	}
	// The subscription outlives the call: it gets the connection's context.
	sub, err := c.s.chat.Subscribe(c.ctx, chat.Filter{Room: f.Room, Since: f.Since})
	if err != nil {
		return "", err
	}
	ws := &wsSub{id: newSubID(), sub: sub, since: f.Since, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sub.Close()
		return "", context.Canceled
	}
	if len(c.subs) >= c.s.cfg.MaxSubscriptions { // lost a race with another chat_subscribe
		c.mu.Unlock()
		sub.Close()
		return "", c.tooManySubs()
	}
	c.subs[ws.id] = ws
	c.wg.Add(1)
	c.mu.Unlock()
	gate := make(chan struct{})
	env.defer_(func() { close(gate) })
	go c.bridge(ws, gate)
	return ws.id, nil
}

func (c *wsConn) tooManySubs() error {
	return newError(api.CodeLimitExceeded, "limit exceeded: at most %d subscriptions per connection", c.s.cfg.MaxSubscriptions)
}

// bridge forwards messages until the subscription, the connection or
// chat_unsubscribe ends it.
func (c *wsConn) bridge(ws *wsSub, gate <-chan struct{}) {
	defer c.wg.Done()
	select {
	case <-gate:
	case <-ws.done:
		return
	case <-c.ctx.Done():
		ws.stop()
		return
	}
	last := ws.since
	for {
		select {
		case <-ws.done:
			return
		case <-c.ctx.Done():
			ws.stop()
			return
		case m, ok := <-ws.sub.C():
			if !ok {
				c.ended(ws, last)
				return
			}
			params := api.SubscriptionParams{Subscription: ws.id}
			if m.Redacted != "" {
				params.Redaction = &api.Redaction{Redacted: m.Redacted, Room: m.Room}
			} else {
				wm := toMessage(m)
				params.Result = &wm
			}
			b, err := marshal(notificationMsg{JSONRPC: version, Method: api.NotificationMethod, Params: params})
			if err != nil {
				c.s.log.Error("rpc encode notification", "err", err)
				continue
			}
			// Waits while the socket is busy; meanwhile the chat
			// subscription queues, then reads on from the ledger.
			if !c.send(b, ws.done) {
				ws.stop()
				return
			}
			if m.Redacted == "" { // a redaction has no cursor of its own
				last = m.Cursor
			}
		}
	}
}

// ended sends the final error notification for a subscription that the
// chat side ended, unless we ended it.
func (c *wsConn) ended(ws *wsSub, last string) {
	c.mu.Lock()
	_, mine := c.subs[ws.id]
	delete(c.subs, ws.id)
	c.mu.Unlock()
	if !mine {
		return
	}
	msg := "subscription ended"
	if err := ws.sub.Err(); err != nil {
		msg = "subscription ended: " + err.Error()
	}
	data, _ := json.Marshal(api.SubscriptionEnd{Cursor: last})
	b, err := marshal(notificationMsg{JSONRPC: version, Method: api.NotificationMethod,
		Params: api.SubscriptionParams{Subscription: ws.id, Error: &api.Error{Code: api.CodeSubscriptionDropped, Message: msg, Data: data}}})
	if err == nil {
		c.send(b, nil)
	}
	c.s.log.Debug("rpc subscription ended", "sub", ws.id, "err", ws.sub.Err())
}
