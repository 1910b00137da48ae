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

// reserveOver is the frame size above which a frame's buffer is reserved
// in the stream's resource scope before it is read (and so charged to the
// peer's and the ServiceName scopes, within AddServiceLimits). Smaller
// frames fit the 64 KiB read buffer every stream has anyway.
const reserveOver = 64 << 10

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
	held    int           // bytes reserved for the frame next returned last
}

// fetched is a frame read ahead (with the bytes reserved for it), or the
// error that ended reading.
type fetched struct {
	f    *frame
	held int
	err  error
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
// read buffer and are valid until the next call, which also releases the
// memory reserved for it.
func (c *conn) next() (*frame, error) {
	c.release()
	if c.ahead != nil {
		x, ok := <-c.ahead
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		c.held = x.held
		return x.f, x.err
	}
	b, held, err := c.read1(c.buf)
	if err != nil {
		return nil, err
	}
	c.held = held
	if held == 0 && cap(b) > cap(c.buf) {
		c.buf = b[:0] // a reserved buffer is not kept: its memory goes with its reservation
	}
	return decodeFrame(b)
}

// read1 reads one frame into buf, or a new buffer reserved in the stream's
// scope when the frame is larger than reserveOver. It returns the bytes
// reserved; when the scope refuses them, the frame is not read and the
// error wraps ErrLimit.
func (c *conn) read1(buf []byte) ([]byte, int, error) {
	held := 0
	b, err := readFrame(c.r, buf, MaxFrameSize, func(n int) error {
		if n <= reserveOver {
			return nil
		}
		if err := c.s.Scope().ReserveMemory(n, network.ReservationPriorityHigh); err != nil {
			return fmt.Errorf("%w: no memory for a %d-byte frame: %w", ErrLimit, n, err)
		}
		held = n
		return nil
	})
	if err != nil && held > 0 {
		c.s.Scope().ReleaseMemory(held)
		held = 0
	}
	return b, held, err
}

// release gives back the memory reserved for the frame next returned last.
func (c *conn) release() {
	if c.held > 0 {
		c.s.Scope().ReleaseMemory(c.held)
		c.held = 0
	}
}

// prefetch reads frames ahead on a goroutine, so receiving the next frame
// overlaps with verifying and storing the current one (on 2 cores the
// verification otherwise leaves the network idle, and the network the
// cores). Each frame read ahead has its own buffer, reserved like next's:
// at most depth+2 frames are held (read ahead, being read, in use). stop
// must be called after the stream is closed or reset; it waits for the
// goroutine and releases every reservation.
func (c *conn) prefetch(depth int) (stop func()) {
	c.ahead = make(chan fetched, depth)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(c.ahead)
		for {
			var f *frame
			b, held, err := c.read1(nil)
			if err == nil {
				f, err = decodeFrame(b)
			}
			select {
			case c.ahead <- fetched{f, held, err}:
			case <-done:
				if held > 0 {
					c.s.Scope().ReleaseMemory(held)
				}
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
		for x := range c.ahead { // closed by the goroutine
			if x.held > 0 {
				c.s.Scope().ReleaseMemory(x.held)
			}
		}
		c.release()
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
