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

// Stop waits for a function that is running: after it returns, none is.
func TestGroupStopWaitsForRunning(t *testing.T) {
	var g Group
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	g.AfterFunc(0, func() {
		close(started)
		<-release
		g.AfterFunc(0, func() { t.Error("re-armed after Stop began") })
		finished.Store(true)
	})
	<-started
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a function was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return once the function did")
	}
	if !finished.Load() {
		t.Fatal("Stop returned before the running function finished")
	}
	time.Sleep(20 * time.Millisecond) // the re-armed one, had it been armed
}
