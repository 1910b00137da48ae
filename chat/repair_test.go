package chat

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Repair asks come after missingGrace and then after waits that double
// (0.3 s, 0.6 s, … 9.6 s), missingRetries+1 times at most, and stop as
// soon as an ask says so.
func TestRepeatAskBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Service
		defer s.timers.Stop()
		var mu sync.Mutex // the asks run on timer goroutines
		var at []time.Duration
		asks := func() []time.Duration { mu.Lock(); defer mu.Unlock(); return slices.Clone(at) }
		start := time.Now()
		s.repeatAsk(func(attempt int) bool {
			mu.Lock()
			defer mu.Unlock()
			if attempt != len(at) {
				t.Errorf("attempt %d, want %d", attempt, len(at))
			}
			at = append(at, time.Since(start))
			return true
		})
		time.Sleep(time.Minute)
		want := []time.Duration{300, 900, 2100, 4500, 9300, 18900}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if got := asks(); !slices.Equal(got, want) {
			t.Fatalf("asked at %v, want %v", got, want)
		}

		at = nil // no ask is pending
		s.repeatAsk(func(int) bool {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, 0)
			return len(at) < 2
		})
		time.Sleep(time.Minute)
		if n := len(asks()); n != 2 {
			t.Fatalf("%d asks, want 2: the second said stop", n)
		}
	})
}
