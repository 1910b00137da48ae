// Package timers runs functions after a delay, as time.AfterFunc does, in
// groups that can be stopped at once. A pending time.AfterFunc keeps
// whatever its function refers to reachable until it fires; the retry and
// repair timers of chat and ledgersync refer to their whole service, so
// without a Stop on Close a closed node stayed in memory until the last
// of them fired (chat's repair asks back off over ~19 s).
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
	running sync.WaitGroup // functions started and not yet returned
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
		if g.stopped { // fired as Stop began: too late to run
			g.mu.Unlock()
			return
		}
		g.running.Add(1)
		g.mu.Unlock()
		defer g.running.Done()
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

// Stop cancels every pending function and every later AfterFunc, and
// waits for functions already running to return: none runs once Stop has
// returned. A function may call AfterFunc (it does nothing then), but not
// Stop.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	for tm := range g.pending {
		tm.Stop()
	}
	g.pending = nil
	g.mu.Unlock()
	g.running.Wait()
}
