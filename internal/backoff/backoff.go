// Package backoff computes the delays of Parley's retry loops: exponential
// growth from a minimum to a maximum, optional jitter, and a reset after a
// success. It is the one retry helper the packages share (room discovery,
// sync retries, chat's repair asks, bootstrap upkeep), so that every loop
// backs off the same way and is tested once.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing delays: Min, 2·Min, 4·Min, … capped at Max, each
// then spread by ±Jitter (a fraction in [0, 1]) so that peers which failed
// together do not retry together; with jitter a delay may reach
// Max·(1+Jitter). The zero value is not useful; set Min
// and Max. A Backoff is a value owned by one goroutine (the retry loop);
// it is not safe for concurrent use.
type Backoff struct {
	// Min is the first delay, and the delay after Reset. It must be > 0.
	Min time.Duration
	// Max caps the delay; a Max below Min is treated as Min.
	Max time.Duration
	// Jitter spreads each delay d (already capped at Max) uniformly over
	// [d·(1−Jitter), d·(1+Jitter)]. Zero means none.
	Jitter float64

	cur time.Duration // the next delay before jitter; 0 means Min
}

// Next returns the delay to wait before the next try and doubles the one
// after it, up to Max.
func (b *Backoff) Next() time.Duration {
	hi := max(b.Max, b.Min)
	d := b.cur
	if d <= 0 {
		d = b.Min
	}
	b.cur = min(2*d, hi)
	d = min(d, hi)
	if b.Jitter > 0 {
		j := min(b.Jitter, 1)
		d = time.Duration(float64(d) * (1 - j + 2*j*rand.Float64()))
	}
	return max(d, 0)
}

// Peek returns the delay Next would return, without jitter and without
// advancing.
func (b *Backoff) Peek() time.Duration {
	if b.cur <= 0 {
		return b.Min
	}
	return b.cur
}

// Reset makes the next delay Min again, as after a success.
func (b *Backoff) Reset() { b.cur = 0 }
