package p2p

import (
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
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
type coalescingMuxer struct{ inner network.Multiplexer }

// NewConn implements network.Multiplexer.
func (m coalescingMuxer) NewConn(c net.Conn, isServer bool, scope network.PeerScope) (network.MuxedConn, error) {
	cc := newCoalescingConn(c)
	mc, err := m.inner.NewConn(cc, isServer, scope)
	if err != nil {
		cc.Close()
		return nil, err
	}
	return mc, nil
}

const (
	// maxPending bounds the bytes a connection holds unwritten; a writer
	// past it waits until the kernel takes them (the peer reads). yamux
	// alone could queue 64 frames in its send channel.
	maxPending = 256 << 10
	// maxSpare is the largest write buffer a connection keeps between
	// bursts.
	maxSpare = 64 << 10
	// closeFlushTimeout bounds how long Close spends writing what is
	// pending (a GoAway frame, the last messages) to a peer that does not
	// read.
	closeFlushTimeout = time.Second
)

// coalescingConn hands writes to its flush goroutine, which writes
// everything accepted so far in one call. Write returns once the bytes are
// accepted; after a write fails, every Write returns that error (and yamux
// closes the session). Reads, addresses and deadlines are the underlying
// connection's: a write deadline bounds the flush goroutine's writes.
// Close stops the goroutine.
type coalescingConn struct {
	net.Conn

	mu      sync.Mutex
	cond    sync.Cond // signals new pending bytes, space, an error, closing
	pending []byte    // accepted, not yet handed to the kernel
	spare   []byte    // the flushed buffer, kept for reuse
	err     error     // the first write error
	closed  bool
	done    chan struct{} // closed when flush returns
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, done: make(chan struct{})}
	cc.cond.L = &cc.mu
	go cc.flush()
	return cc
}

// Write implements net.Conn. Safe for concurrent use.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.pending) > 0 && len(c.pending)+len(p) > maxPending {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush writes all that is pending in one call, again and again, until
// the connection is closed and nothing is pending, or a write fails.
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
		buf := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if cap(buf) <= maxSpare {
			c.spare = buf[:0]
		}
		c.cond.Broadcast()
		if err != nil {
			c.err = err
			return
		}
	}
}

// Close writes what is pending, for at most closeFlushTimeout, and closes
// the underlying connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	<-c.done
	return c.Conn.Close()
}
