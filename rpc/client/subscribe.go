package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/rpc/api"
)

// Subscription is a stream of a room's new messages over a WebSocket. Read
// C until it is closed, then Err tells why. Close ends it.
type Subscription struct {
	id   string
	c    chan api.Message
	red  chan api.Redaction
	conn *websocket.Conn

	mu     sync.Mutex
	err    error
	cursor string

	once    sync.Once
	closing atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// ID returns the server's subscription ID.
func (s *Subscription) ID() string { return s.id }

// C returns the messages, oldest first. It is closed when the subscription
// ends.
func (s *Subscription) C() <-chan api.Message { return s.c }

// Redactions returns the messages withdrawn after C delivered them (a
// moderated room's admin banned their author). It is buffered (64) and
// never blocks C: a redaction that finds it full is dropped, and
// msg_history stays authoritative. It is closed with C.
func (s *Subscription) Redactions() <-chan api.Redaction { return s.red }

// Err returns why the subscription ended: nil after Close, an *api.Error
// with Code api.CodeSubscriptionDropped when the node dropped it (resume with
// Cursor), or a connection error. Call it after C is closed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Cursor returns the cursor of the last message received (or the since the
// subscription started with): pass it as since to resume without gaps.
func (s *Subscription) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

// Close ends the subscription and its connection and waits for its
// goroutine. It is idempotent.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		s.closing.Store(true)
		s.conn.Close(websocket.StatusNormalClosure, "")
		s.cancel()
	})
	<-s.done
	return nil
}

// Subscribe opens a WebSocket to the node and subscribes to new messages of
// room (all joined rooms when empty); since (a Message cursor, may be empty)
// replays what came after it first. ctx bounds the handshake and the
// subscription's life.
func (c *Client) Subscribe(ctx context.Context, room, since string) (*Subscription, error) {
	wsURL := "ws" + strings.TrimPrefix(c.url, "http")
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+c.token)
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp != nil {
			if serr := httpStatusError(resp); serr != nil {
				return nil, serr
			}
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (nothing listens at %s)", ErrNotRunning, c.url)
		}
		return nil, fmt.Errorf("rpc: websocket: %w", err)
	}
	conn.SetReadLimit(maxResponseBytes)
	filter := api.SubscribeFilter{Room: room, Since: since}
	req, _ := json.Marshal(request{JSONRPC: "2.0", ID: 1, Method: "chat_subscribe", Params: []any{"messages", filter}})
	if err := conn.Write(ctx, websocket.MessageText, req); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("rpc: chat_subscribe: %w", err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("rpc: chat_subscribe: %w", err)
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("rpc: chat_subscribe: malformed response: %w", err)
	}
	if r.Error != nil {
		conn.CloseNow()
		return nil, r.Error
	}
	var id string
	if err := json.Unmarshal(r.Result, &id); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("rpc: chat_subscribe: bad subscription id: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &Subscription{id: id, c: make(chan api.Message, 64), red: make(chan api.Redaction, 64), conn: conn, cursor: since, cancel: cancel, done: make(chan struct{})}
	go s.read(sctx)
	return s, nil
}

type notification struct {
	Method string                 `json:"method"`
	Params api.SubscriptionParams `json:"params"`
}

func (s *Subscription) read(ctx context.Context) {
	defer close(s.done)
	defer close(s.c)
	defer close(s.red)
	defer s.conn.CloseNow()
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && !s.closing.Load() && websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				s.setErr(fmt.Errorf("rpc: subscription connection: %w", err))
			}
			return
		}
		var n notification
		if json.Unmarshal(data, &n) != nil || n.Method != api.NotificationMethod || n.Params.Subscription != s.id {
			continue
		}
		if n.Params.Error != nil {
			s.setErr(n.Params.Error)
			return
		}
		if r := n.Params.Redaction; r != nil {
			select {
			case s.red <- *r:
			default:
			}
			continue
		}
		if n.Params.Result == nil {
			continue
		}
		select {
		case s.c <- *n.Params.Result:
			s.mu.Lock()
			s.cursor = n.Params.Result.Cursor
			s.mu.Unlock()
		case <-ctx.Done():
			return
		}
	}
}

func (s *Subscription) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}
