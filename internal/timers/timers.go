// Package timers runs functions after a delay, as time.AfterFunc does, in
// groups that can be stopped at once. A pending time.AfterFunc keeps
// whatever its function refers to reachable until it fires; the retry and
// repair timers of chat and ledgersync refer to their whole service, so
// without a Stop on Close a closed node stayed in memory for up to the
// longest backoff (9.6 s).
package timers

import (
	"sync"
	"time"
)

// Group is a set of pending functions. The zero value is ready to use.
type Group struct {
	mu      sync.Mutex
	pending map[*time.Timer]struct{}
	stopped bool
}

// AfterFunc runs f in its own goroutine after d, unless Stop is called
// first. After Stop it does nothing.
func (g *Group) AfterFunc(d time.Duration, f func()) {
	g.mu.Lock()
	defer g.mu.Unlock() // held until tm is set: the callback takes it first
	if g.stopped {
		return
	}
	if g.pending == nil {
		g.pending = make(map[*time.Timer]struct{})
	}
	var tm *time.Timer
	tm = time.AfterFunc(d, func() {
		g.mu.Lock()
		delete(g.pending, tm)
		g.mu.Unlock()
		f()
	})
	g.pending[tm] = struct{}{}
}

// Pending reports how many functions wait to run.
func (g *Group) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// Stop cancels every pending function and every later AfterFunc. A
// function already running is not waited for.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	for tm := range g.pending {
		tm.Stop()
	}
	g.pending = nil
}
