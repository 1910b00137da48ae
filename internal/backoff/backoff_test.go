package backoff

import (
	"testing"
	"time"
)

func TestDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("delay %d: got %v, want %v", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Fatalf("after Reset: got %v, want 100ms", got)
	}
	if got := b.Peek(); got != 200*time.Millisecond {
		t.Fatalf("Peek: got %v, want 200ms", got)
	}
}

func TestJitterStaysInBand(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second, Jitter: 0.25}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := b.Next()
		if d < 750*time.Millisecond || d > 1250*time.Millisecond {
			t.Fatalf("delay %v outside [750ms, 1.25s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("jitter produced only %d distinct delays", len(seen))
	}
}

func TestMaxBelowMin(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Millisecond}
	for range 3 {
		if got := b.Next(); got != time.Second {
			t.Fatalf("got %v, want 1s", got)
		}
	}
}
