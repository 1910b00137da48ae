package keyx

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// windowCounter counts events per peer in fixed windows. The whole map is
// dropped when a window ends, so it holds at most the peers seen in one
// window, which the connection limits bound.
type windowCounter struct {
	mu     sync.Mutex
	window time.Duration
	start  time.Time
	counts map[peer.ID]int
}

func newWindowCounter(window time.Duration) *windowCounter {
	return &windowCounter{window: window, counts: make(map[peer.ID]int)}
}

// allow counts one event of p and reports whether it is within max in
// the current window.
func (w *windowCounter) allow(p peer.ID, max int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.start) >= w.window {
		w.start = now
		clear(w.counts)
	}
	if w.counts[p] >= max {
		return false
	}
	w.counts[p]++
	return true
}

// forget drops p's count.
func (w *windowCounter) forget(p peer.ID) {
	w.mu.Lock()
	delete(w.counts, p)
	w.mu.Unlock()
}
