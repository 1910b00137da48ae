package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
)

// recordingConn is the transport under a coalescingConn: it records the
// size of each write that reaches it.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, len(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordingConn) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.writes...)
}

// newTestConn wraps c as NewConn does, with yamux's write timeout.
func newTestConn(c net.Conn) *coalescingConn {
	return newCoalescingConn(c, 10*time.Second)
}

func frame(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }

// settled waits until every goroutine of the test's synctest bubble is
// blocked (the flush goroutine in a pipe write, a writer waiting for room)
// and fails t unless cond then holds: the state is exact, not polled.
func settled(t *testing.T, what string, cond func() bool) {
	t.Helper()
	synctest.Wait()
	if !cond() {
		t.Fatalf("once settled, not %s", what)
	}
}

// Frames written while the first is still being written reach the
// transport in one write, complete and in order; the first goes out alone
// and at once.
func TestCoalescingConnGathersQueuedFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe() // a write blocks until the other end reads it
		rec := &recordingConn{Conn: a}
		c := newTestConn(rec)
		defer c.Close()

		var want bytes.Buffer
		for i := range 10 {
			f := frame(i, 100+i)
			want.Write(f)
			if n, err := c.Write(f); n != len(f) || err != nil {
				t.Fatalf("Write %d = %d, %v", i, n, err)
			}
			if i == 0 {
				settled(t, "the first frame to be written", func() bool { return len(rec.sizes()) == 1 })
			}
		}
		got := make([]byte, want.Len())
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatal("bytes differ from what was written")
		}
		if sizes := rec.sizes(); len(sizes) != 2 || sizes[0] != 100 || sizes[1] != want.Len()-100 {
			t.Fatalf("transport writes %v, want [100 %d]", sizes, want.Len()-100)
		}
	})
}

// A yamux ping or pong goes ahead of the frames queued behind the write in
// progress, as yamux itself sends them ahead of its queue; other frames,
// a 12-byte window update included, keep their order.
func TestCoalescingConnPingsJumpQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		rec := &recordingConn{Conn: a}
		c := newTestConn(rec)
		defer c.Close()
		ping := []byte{0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7}   // pong (ACK) to ping 7
		window := []byte{0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0} // window update, stream 3
		write := func(p []byte) {
			t.Helper()
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		write(frame(0, 100))
		settled(t, "frame 0 with the transport", func() bool { return len(rec.sizes()) == 1 })
		write(frame(1, 100))
		write(window)
		write(frame(2, 100))
		write(ping)
		var want []byte
		for _, f := range [][]byte{frame(0, 100), ping, frame(1, 100), window, frame(2, 100)} {
			want = append(want, f...)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frames reached the transport as\n%v\nwant\n%v", got, want)
		}
	})
}

// A pong waits behind at most maxPending of earlier frames. yamux's send
// loop writes a pong ahead of its own queue, but only once its Write of
// the frame in hand returns, which takes room here: so what the pong waits
// behind is what the connection held unwritten when the ping came in.
func TestCoalescingConnPongWaitsAtMostMaxPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c := newTestConn(a)
		defer c.Close()
		pong := []byte{0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9}
		const size = 1 << 10
		var (
			accepted    atomic.Int64
			pingArrived atomic.Bool
		)
		go func() { // yamux's send loop
			for i := 0; ; i++ {
				if _, err := c.Write(frame(i%20, size)); err != nil {
					return
				}
				accepted.Add(1)
				if pingArrived.Load() {
					c.Write(pong)
					return
				}
			}
		}()
		// Nobody reads yet: the loop fills the connection, then waits in Write.
		settled(t, "the connection full and the loop waiting in Write", func() bool { return accepted.Load() >= maxPending/size-1 })
		pingArrived.Store(true)
		got := make([]byte, 0, 2*maxPending)
		buf := make([]byte, 4<<10)
		for !bytes.Contains(got, pong) {
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := b.Read(buf)
			if err != nil {
				t.Fatalf("reading up to the pong: %v", err)
			}
			got = append(got, buf[:n]...)
		}
		// 64 KiB is what yamux's own queue held of gossip-sized frames; a
		// slow peer must still answer a ping within its 10 s timeout.
		if budget := 64<<10 + size; bytes.Index(got, pong) > budget {
			t.Fatalf("the pong waited behind %d bytes, want at most %d", bytes.Index(got, pong), budget)
		}
	})
}

// After the transport fails a write, Write reports the failure.
func TestCoalescingConnReportsWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c := newTestConn(a)
		defer c.Close()
		b.Close()
		if _, err := c.Write([]byte("accepted before the failure is known")); err != nil {
			t.Fatalf("first Write: %v", err)
		}
		var err error
		settled(t, "Write to report the closed pipe", func() bool {
			_, err = c.Write([]byte("x"))
			return err != nil
		})
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Write error %v, want io.ErrClosedPipe", err)
		}
	})
}

// A writer more than maxPending ahead of the transport waits for it, and
// nothing is lost.
func TestCoalescingConnBoundsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		rec := &recordingConn{Conn: a}
		c := newTestConn(rec)
		defer c.Close()
		const size = maxPending / 4
		var want bytes.Buffer
		for i := range 10 {
			want.Write(frame(i, size))
		}
		// Frame 0 goes to the transport, which blocks: nobody reads yet.
		if _, err := c.Write(frame(0, size)); err != nil {
			t.Fatal(err)
		}
		settled(t, "frame 0 with the transport", func() bool { return len(rec.sizes()) == 1 })
		var (
			mu       sync.Mutex
			accepted = 1
		)
		go func() {
			for i := 1; i < 10; i++ {
				if _, err := c.Write(frame(i, size)); err != nil {
					return
				}
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
		count := func() int { mu.Lock(); defer mu.Unlock(); return accepted }
		// Frame 0 in flight and frames 1-3 make maxPending; frame 4 must wait.
		// Settled means the writer waits: no fifth frame can come.
		settled(t, fmt.Sprintf("4 frames accepted with nothing read (maxPending %d)", maxPending), func() bool { return count() == 4 })
		got := make([]byte, want.Len())
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatal("bytes differ from what was written")
		}
		settled(t, "all frames accepted", func() bool { return count() == 10 })
	})
}

// Close writes what is pending before it closes the transport.
func TestCoalescingConnCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c := newTestConn(a)
		for i := range 3 {
			if _, err := c.Write(frame(i, 10)); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		got, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(append(frame(0, 10), frame(1, 10)...), frame(2, 10)...); !bytes.Equal(got, want) {
			t.Fatalf("read %q before EOF, want %q", got, want)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
		}
	})
}

// Close does not hang on a peer that does not read: it gives up on what
// is pending after closeFlushTimeout.
func TestCoalescingConnCloseBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := newTestConn(a)
		if _, err := c.Write([]byte("never read")); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() { c.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(closeFlushTimeout + 3*time.Second):
			t.Fatal("Close hangs with an unread write pending")
		}
		if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("the transport is still open after Close: %v", err)
		}
	})
}

// A write the peer never takes fails after the write timeout, although
// the session keeps writing small frames and extending its deadline as
// yamux does (the wrapper ignores that deadline, which would otherwise
// keep the stuck write alive); the transport is then closed.
func TestCoalescingConnStuckWriteTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		const timeout = 200 * time.Millisecond
		c := newCoalescingConn(a, timeout)
		defer c.Close()
		start := time.Now()
		var err error
		for err == nil && time.Since(start) < 5*time.Second {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Write(make([]byte, 12)) // a yamux ping or window update
			time.Sleep(20 * time.Millisecond)
		}
		if err == nil {
			t.Fatal("writes to a peer that never reads still succeed after 5 s")
		}
		if d := time.Since(start); d > 10*timeout {
			t.Errorf("the stuck write failed after %v, want about %v", d, timeout)
		}
		if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("the transport is still open after the failed write: %v", err)
		}
	})
}

// Under real yamux on a TCP connection: streams carry their data intact
// in both directions, and closing the session stops both wrappers' flush
// goroutines.
func TestCoalescingConnUnderYamux(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cliConn, srvConn := newTestConn(raw), newTestConn(<-accepted)
	mux := yamux.DefaultTransport
	cli, err := mux.NewConn(cliConn, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mux.NewConn(srvConn, true, nil)
	if err != nil {
		t.Fatal(err)
	}

	const streams, frames = 4, 200
	errs := make(chan error, 2*streams)
	for s := range streams {
		go func() {
			st, err := cli.OpenStream(t.Context())
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			for i := range frames {
				if _, err := st.Write(frame(s, 1+i%300)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		go func() {
			st, err := srv.AcceptStream()
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(st)
			if err != nil {
				errs <- err
				return
			}
			var want []byte
			for i := range frames {
				want = append(want, frame(int(got[0]-'a'), 1+i%300)...)
			}
			if !bytes.Equal(got, want) {
				errs <- errors.New("a stream's bytes differ from what was written")
				return
			}
			errs <- nil
		}()
	}
	for range 2 * streams {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("streams did not finish")
		}
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	for name, cc := range map[string]*coalescingConn{"client": cliConn, "server": srvConn} {
		select {
		case <-cc.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the %s's flush goroutine still runs after the session closed", name)
		}
	}
}
