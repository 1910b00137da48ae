package ledgersync

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// packSize is the size at which a frame being filled is sent.
const packSize = 1 << 20

// conn frames one sync stream: buffered reads and writes, byte counters,
// and a deadline per read and per write (the idle timeout).
type conn struct {
	s       network.Stream
	r       *bufio.Reader
	w       *bufio.Writer
	buf     []byte
	out     []byte
	timeout time.Duration
	read    atomic.Int64 // updated by the prefetch goroutine too
	written int64
	ahead   chan fetched  // non-nil once prefetch started
	v1      bool          // the stream speaks ProtocolV1
	total   *atomic.Int64 // if set, also counts the bytes read
}

// fetched is a frame read ahead, or the error that ended reading.
type fetched struct {
	f   *frame
	err error
}

func newConn(s network.Stream, timeout time.Duration) *conn {
	c := &conn{s: s, timeout: timeout, v1: s.Protocol() == ProtocolV1}
	c.r = bufio.NewReaderSize(countReader{c}, 64<<10)
	c.w = bufio.NewWriterSize(countWriter{c}, 64<<10)
	return c
}

type countReader struct{ c *conn }

func (r countReader) Read(p []byte) (int, error) {
	_ = r.c.s.SetReadDeadline(time.Now().Add(r.c.timeout))
	n, err := r.c.s.Read(p)
	r.c.read.Add(int64(n))
	if r.c.total != nil {
		r.c.total.Add(int64(n))
	}
	return n, err
}

type countWriter struct{ c *conn }

func (w countWriter) Write(p []byte) (int, error) {
	_ = w.c.s.SetWriteDeadline(time.Now().Add(w.c.timeout))
	n, err := w.c.s.Write(p)
	w.c.written += int64(n)
	return n, err
}

// next reads and decodes one frame. The frame's event bytes alias the
// read buffer and are valid until the next call.
func (c *conn) next() (*frame, error) {
	if c.ahead != nil {
		x, ok := <-c.ahead
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		return x.f, x.err
	}
	b, err := readFrame(c.r, c.buf, MaxFrameSize)
	if err != nil {
		return nil, err
	}
	if cap(b) > cap(c.buf) {
		c.buf = b[:0]
	}
	return decodeFrame(b)
}

// prefetch reads frames ahead on a goroutine, so receiving the next frame
// overlaps with verifying and storing the current one (on 2 cores the
// verification otherwise leaves the network idle, and the network the
// cores). Each frame read ahead has its own buffer. stop must be called
// after the stream is closed or reset; it waits for the goroutine.
func (c *conn) prefetch(depth int) (stop func()) {
	c.ahead = make(chan fetched, depth)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(c.ahead)
		for {
			var f *frame
			b, err := readFrame(c.r, nil, MaxFrameSize)
			if err == nil {
				f, err = decodeFrame(b)
			}
			select {
			case c.ahead <- fetched{f, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// send buffers one frame.
func (c *conn) send(f *frame) error {
	c.out = appendFrame(c.out[:0], f)
	if _, err := c.w.Write(c.out); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// flush sends buffered frames.
func (c *conn) flush() error {
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// sendItems buffers items in Ranges frames of at most packSize bytes.
func (c *conn) sendItems(items []item) error {
	for len(items) > 0 {
		n, size := 0, 0
		for n < len(items) && (n == 0 || size+itemSize(&items[n]) <= packSize) {
			size += itemSize(&items[n])
			n++
		}
		if err := c.send(&frame{typ: frameRanges, items: items[:n]}); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// sendErr sends an Error frame and flushes, ignoring failures (the session
// is ending anyway).
func (c *conn) sendErr(code byte, msg string) {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	if c.send(&frame{typ: frameError, code: code, msg: msg}) == nil {
		_ = c.flush()
	}
}
