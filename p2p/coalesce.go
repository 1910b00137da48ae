package p2p

import (
	"net"
	"sync"
	"time"

	pool "github.com/libp2p/go-buffer-pool"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// coalescingMuxer is yamux over a connection that gathers the frames yamux
// writes while an earlier write is still in the kernel, and writes them in
// one call. yamux writes every frame with its own call (its write
// coalescing is disabled upstream, libp2p/go-libp2p#644), which under
// Noise is also its own encrypted record and syscall: with gossip, one per
// message per mesh peer, each waiting in yamux's send queue behind the
// previous one's syscall. Nothing is held back to coalesce: a frame on an
// idle connection is written at once; frames share a write only when they
// queue up behind a slow one, as they do when the node is busy. QUIC
// connections multiplex by themselves and are not affected.
type coalescingMuxer struct{ inner *yamux.Transport }

// NewConn implements network.Multiplexer. The connection takes over
// yamux's ConnectionWriteTimeout: it bounds each write to the kernel.
func (m coalescingMuxer) NewConn(c net.Conn, isServer bool, scope network.PeerScope) (network.MuxedConn, error) {
	cc := newCoalescingConn(c, m.inner.Config().ConnectionWriteTimeout)
	mc, err := m.inner.NewConn(cc, isServer, scope)
	if err != nil {
		cc.Close()
		return nil, err
	}
	return mc, nil
}

const (
	// maxPending bounds the bytes a connection holds unwritten, counting
	// the write in progress; a writer past it waits until the kernel
	// takes them (the peer reads). It is also the most a yamux ping or
	// pong can wait behind: yamux's send loop, where pongs jump the
	// queue, is the writer that waits here, so a pong goes out only
	// after what was accepted before it (a pong later than the peer's
	// 10 s keepalive timeout makes the peer close the connection). yamux
	// alone held up to 64 frames in its queue: about as much for
	// gossip's small frames.
	maxPending = 64 << 10
	// minBuffer is the smallest buffer a connection takes from the shared
	// pool when writes arrive on an empty one.
	minBuffer = 4 << 10
	// closeFlushTimeout bounds how long Close spends writing what is
	// pending (a GoAway frame, the last messages) to a peer that does not
	// read: yamux's own wait for its GoAway.
	closeFlushTimeout = 100 * time.Millisecond
)

// coalescingConn hands writes to its flush goroutine, which writes
// everything accepted so far in one call. Write returns once the bytes are
// accepted. A failed write closes the underlying connection (so yamux's
// read loop ends and the session closes, as when its own write fails), and
// every later Write returns the error.
//
// The wrapper owns the write deadline: a Write returns before its bytes
// reach the kernel, so yamux's deadline, which it extends at every Write,
// would keep extending a write that is stuck. Instead each write to the
// kernel must finish within writeTimeout; SetWriteDeadline is ignored and
// SetDeadline sets only the read deadline. Close stops the goroutine.
type coalescingConn struct {
	net.Conn
	writeTimeout time.Duration

	mu       sync.Mutex
	cond     sync.Cond // signals new pending bytes, space, an error, closing
	pending  []byte    // accepted, not yet handed to the kernel; from pool
	inFlight int       // bytes of the write in progress
	deadline time.Time // the underlying connection's write deadline
	err      error     // the first write error
	closed   bool
	done     chan struct{} // closed when flush returns
}

func newCoalescingConn(c net.Conn, writeTimeout time.Duration) *coalescingConn {
	cc := &coalescingConn{Conn: c, writeTimeout: writeTimeout, done: make(chan struct{})}
	cc.cond.L = &cc.mu
	go cc.flush()
	return cc
}

// Write implements net.Conn. Safe for concurrent use.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && c.inFlight+len(c.pending) > 0 && c.inFlight+len(c.pending)+len(p) > maxPending {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, net.ErrClosed
	}
	ping := isYamuxPing(p)
	if n := len(c.pending) + len(p); n > cap(c.pending) {
		// Buffers come from and go back to libp2p's shared pool, so an
		// idle connection holds none and a busy one allocates none.
		grown := pool.Get(max(n, 2*cap(c.pending), minBuffer))[:len(c.pending)]
		copy(grown, c.pending)
		pool.Put(c.pending)
		c.pending = grown
	}
	if ping && len(c.pending) > 0 {
		// yamux sends pings and pongs ahead of queued data; keep that for
		// the frames held here. pending holds whole frames (yamux writes
		// one per call), so the front is a frame boundary.
		c.pending = c.pending[:len(c.pending)+len(p)]
		copy(c.pending[len(p):], c.pending[:len(c.pending)-len(p)])
		copy(c.pending, p)
	} else {
		c.pending = append(c.pending, p...)
	}
	c.cond.Broadcast()
	return len(p), nil
}

// yamuxHeaderSize and yamuxTypePing are from the yamux specification: a
// frame is a 12-byte header (version, type, flags, stream ID, length) and
// a body; a ping or its answer is a header of type 2 alone, written by
// yamux in one Write.
const (
	yamuxHeaderSize = 12
	yamuxTypePing   = 2
)

func isYamuxPing(p []byte) bool {
	return len(p) == yamuxHeaderSize && p[0] == 0 && p[1] == yamuxTypePing
}

// SetWriteDeadline is ignored: see coalescingConn.
func (c *coalescingConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets the read deadline only: see coalescingConn.
func (c *coalescingConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// flush writes all that is pending in one call, again and again, until
// the connection is closed and nothing is pending, or a write fails.
// c.mu is held except around the write.
func (c *coalescingConn) flush() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.pending) == 0 {
			return
		}
		// Like yamux, move the deadline only once half of it has passed:
		// a write may then take between half and all of writeTimeout.
		// After Close, Close's shorter deadline stands.
		if now := time.Now(); !c.closed && now.Add(c.writeTimeout/2).After(c.deadline) {
			c.deadline = now.Add(c.writeTimeout)
			c.Conn.SetWriteDeadline(c.deadline)
		}
		buf := c.pending
		c.pending = nil
		c.inFlight = len(buf)
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		pool.Put(buf)
		c.mu.Lock()
		c.inFlight = 0
		c.cond.Broadcast()
		if err != nil {
			c.err = err
			pool.Put(c.pending) // never written now
			c.pending = nil
			c.Conn.Close()
			return
		}
	}
}

// Close writes what is pending, for at most closeFlushTimeout, and closes the
// underlying connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.deadline = time.Now().Add(closeFlushTimeout)
	c.Conn.SetWriteDeadline(c.deadline)
	c.cond.Broadcast()
	c.mu.Unlock()
	<-c.done
	return c.Conn.Close()
}
