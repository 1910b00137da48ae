package chat

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A room queue never drops: past its limit a producer waits until the
// worker takes the items, or until its context ends or the room is left;
// items come out in the order they went in.
func TestRoomQueueBackpressure(t *testing.T) {
	q := newRoomQueue[[]byte](publishQueue)
	done := make(chan struct{})
	if err := q.waitRoom(t.Context(), done); err != nil {
		t.Fatalf("empty queue: %v", err)
	}
	for i := range publishQueue + 10 { // the commit hook may overshoot
		q.push([]byte{byte(i), byte(i >> 8)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := q.waitRoom(ctx, done); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("full queue: err = %v, want to wait until the deadline", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- q.waitRoom(t.Context(), done) }()
	select {
	case err := <-waited:
		t.Fatalf("waitRoom returned %v while full", err)
	case <-time.After(20 * time.Millisecond):
	}
	first := q.take(3)
	if len(first) != 3 || first[0][0] != 0 || first[2][0] != 2 {
		t.Fatalf("take(3) = %v, want the 3 oldest", first)
	}
	items := append(first, q.take(0)...)
	if len(items) != publishQueue+10 {
		t.Fatalf("took %d events, want %d", len(items), publishQueue+10)
	}
	for i, b := range items {
		if b[0] != byte(i) || b[1] != byte(i>>8) {
			t.Fatalf("event %d out of order", i)
		}
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sender not woken when the publisher took the queue")
	}
	for range publishQueue {
		q.push(nil)
	}
	close(done)
	if err := q.waitRoom(t.Context(), done); !errors.Is(err, errGone) {
		t.Fatalf("left room: err = %v, want errGone", err)
	}
}
