package p2p

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
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

func frame(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Frames written while the first is still being written reach the
// transport in one write, complete and in order; the first goes out alone
// and at once.
func TestCoalescingConnGathersQueuedFrames(t *testing.T) {
	a, b := net.Pipe() // a write blocks until the other end reads it
	rec := &recordingConn{Conn: a}
	c := newCoalescingConn(rec)
	defer c.Close()

	var want bytes.Buffer
	for i := range 10 {
		f := frame(i, 100+i)
		want.Write(f)
		if n, err := c.Write(f); n != len(f) || err != nil {
			t.Fatalf("Write %d = %d, %v", i, n, err)
		}
		if i == 0 {
			waitUntil(t, "the first frame to be written", func() bool { return len(rec.sizes()) == 1 })
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
}

// After the transport fails a write, Write reports the failure.
func TestCoalescingConnReportsWriteError(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
	defer c.Close()
	b.Close()
	if _, err := c.Write([]byte("accepted before the failure is known")); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	var err error
	waitUntil(t, "Write to report the closed pipe", func() bool {
		_, err = c.Write([]byte("x"))
		return err != nil
	})
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write error %v, want io.ErrClosedPipe", err)
	}
}

// A writer more than maxPending ahead of the transport waits for it, and
// nothing is lost.
func TestCoalescingConnBoundsPending(t *testing.T) {
	a, b := net.Pipe()
	rec := &recordingConn{Conn: a}
	c := newCoalescingConn(rec)
	defer c.Close()
	const size = 64 << 10
	var want bytes.Buffer
	for i := range 10 {
		want.Write(frame(i, size))
	}
	// Frame 0 goes to the transport, which blocks: nobody reads yet.
	if _, err := c.Write(frame(0, size)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "frame 0 with the transport", func() bool { return len(rec.sizes()) == 1 })
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
	// Frames 1-4 fill maxPending; frame 5 must wait.
	waitUntil(t, "5 frames accepted", func() bool { return count() == 5 })
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != 5 {
		t.Fatalf("%d frames accepted with nothing read, want 5 (maxPending %d)", n, maxPending)
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ from what was written")
	}
	waitUntil(t, "all frames accepted", func() bool { return count() == 10 })
}

// Close writes what is pending before it closes the transport.
func TestCoalescingConnCloseFlushes(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
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
}

// Close does not hang on a peer that does not read: it gives up on what
// is pending after closeFlushTimeout.
func TestCoalescingConnCloseBounded(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newCoalescingConn(a)
	if _, err := c.Write([]byte("never read")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > closeFlushTimeout+2*time.Second {
		t.Fatalf("Close took %v with an unread write pending", d)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("the transport is still open after Close: %v", err)
	}
}
