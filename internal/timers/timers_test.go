package timers

import (
	"sync/atomic"
	"testing"
	"time"
)

// Pending functions run after their delay unless stopped; Stop cancels
// them and every later one, so nothing they hold stays reachable.
func TestGroupStop(t *testing.T) {
	var g Group
	var ran atomic.Int32
	done := make(chan struct{})
	g.AfterFunc(time.Millisecond, func() { ran.Add(1); close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a pending function did not run")
	}
	g.AfterFunc(time.Hour, func() { ran.Add(10) })
	if n := g.Pending(); n != 1 {
		t.Fatalf("%d pending, want 1 (the hour-long one; the one that ran leaves the set)", n)
	}
	g.Stop()
	g.AfterFunc(time.Millisecond, func() { ran.Add(100) })
	time.Sleep(50 * time.Millisecond)
	if got, n := ran.Load(), g.Pending(); got != 1 || n != 0 {
		t.Fatalf("ran %d (want 1: only the first), %d still pending after Stop", got, n)
	}
}
