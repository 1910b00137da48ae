package rpc

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

const (
	statusGoingAway   = websocket.StatusGoingAway
	wsInflightPerConn = 16 // concurrent calls per connection
)

// wsConn is one WebSocket client. A reader goroutine (serve) runs calls
// concurrently (at most wsInflightPerConn), a writer goroutine drains the
// bounded outbound queue into the socket. Responses and notifications both
// wait for queue space, so everything moves at the socket's pace: a
// subscription bridge that waits stops taking from its chat subscription,
// which then falls behind and reads on from the ledger by cursor (chat's
// feed.go), so neither the node nor a client that is reading through a
// burst is ever held up or dropped. A client that stops reading is found
// by the write deadline (Config.WSWriteTimeout): one write that cannot
// finish in time drops the connection (see drop); the client resumes with
// chat_subscribe's since.
type wsConn struct {
	s      *Server
	c      *websocket.Conn
	ctx    context.Context // canceled when the connection ends
	cancel context.CancelFunc
	out    chan []byte
	limit  *rate.Limiter // nil: unlimited

	mu     sync.Mutex
	closed bool
	subs   map[string]*wsSub
	wg     sync.WaitGroup // calls and subscription bridges

	shutOnce sync.Once
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	// Reserve a connection slot before the upgrade.
	s.mu.Lock()
	if s.wsConns >= s.cfg.MaxConns {
		s.mu.Unlock()
		s.log.Warn("rpc refused websocket: too many connections", "max", s.cfg.MaxConns)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many WebSocket connections", http.StatusServiceUnavailable)
		return
	}
	s.wsConns++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.wsConns--
		s.mu.Unlock()
	}()

	// The Origin was checked in ServeHTTP (also for localhost vs 127.0.0.1
	// spellings, which the library's same-host check would reject).
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("rpc websocket accept failed", "err", err)
		return
	}
	c.SetReadLimit(s.cfg.MaxBodyBytes)
	ctx, cancel := context.WithCancel(context.Background())
	conn := &wsConn{s: s, c: c, ctx: ctx, cancel: cancel, out: make(chan []byte, s.cfg.WSQueue),
		subs: map[string]*wsSub{}, limit: s.newConnLimiter()}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		c.Close(statusGoingAway, "server shutting down")
		return
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		s.wg.Done()
	}()
	s.log.Debug("rpc websocket open")
	conn.serve()
	s.log.Debug("rpc websocket closed")
}

func (c *wsConn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	sem := make(chan struct{}, wsInflightPerConn)
	for {
		_, data, err := c.c.Read(c.ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.s.log.Debug("rpc websocket message too big")
			}
			break
		}
		select {
		case sem <- struct{}{}:
		case <-c.ctx.Done():
		}
		if !c.track() {
			break
		}
		go func() {
			defer func() { <-sem; c.wg.Done() }()
			env := &callEnv{conn: c, limit: c.limit}
			if resp, _ := c.s.handleMessage(c.ctx, data, env); resp != nil {
				if !c.send(resp, nil) {
					return
				}
			}
			env.runAfter()
		}()
	}
	c.shutdown(websocket.StatusNormalClosure, "")
	c.wg.Wait()
	<-writerDone
}

// track registers one goroutine in c.wg unless the connection is closing.
func (c *wsConn) track() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *wsConn) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case b := <-c.out:
			ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.WSWriteTimeout)
			err := c.c.Write(ctx, websocket.MessageText, b)
			cancel()
			switch {
			case err == nil:
			case errors.Is(err, context.DeadlineExceeded):
				c.s.log.Warn("rpc websocket client too slow, dropping it", "writeTimeout", c.s.cfg.WSWriteTimeout)
				go c.drop()
				return
			default:
				go c.shutdown(websocket.StatusInternalError, "write failed")
				return
			}
		}
	}
}

// send queues a response or notification, waiting for space (the writer
// makes room at the socket's pace). It reports false when the connection
// or stop, if not nil, ended first.
func (c *wsConn) send(b []byte, stop <-chan struct{}) bool {
	select {
	case c.out <- b:
		return true
	case <-c.ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// drop ends a connection whose client does not read: its subscriptions end
// at once, then the context is canceled, and the TCP connection is closed
// without a close handshake (a close frame could not get through the full
// send buffer, and the handshake would wait for seconds).
func (c *wsConn) drop() {
	c.shutOnce.Do(func() {
		c.endSubs()
		c.cancel()
		c.c.CloseNow()
	})
}

// endSubs marks the connection closed and stops all its subscriptions.
func (c *wsConn) endSubs() {
	c.mu.Lock()
	c.closed = true
	subs := c.subs
	c.subs = map[string]*wsSub{}
	c.mu.Unlock()
	for _, sub := range subs {
		sub.stop()
	}
}

// shutdown ends all subscriptions, closes the WebSocket with status and
// reason (bounded by the library's close-handshake timeout) and cancels
// the connection's context. It is idempotent and does not wait for the
// connection's goroutines (serve does).
func (c *wsConn) shutdown(status websocket.StatusCode, reason string) {
	c.shutOnce.Do(func() {
		c.endSubs()
		c.c.Close(status, reason)
		c.cancel()
	})
}
