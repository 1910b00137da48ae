// Package testwait is the one polling helper Parley's tests share: wait
// for an observable condition under a deadline instead of sleeping.
// Inside a testing/synctest bubble the ticker runs on virtual time, so
// the same call costs no real time there.
package testwait

import (
	"context"
	"testing"
	"time"
)

// Interval is how often For checks its condition.
const Interval = 10 * time.Millisecond

// For calls cond every Interval until it returns true, and fails t (with
// what, and the result of diag if it is non-nil) if timeout passes first
// or the test's context ends.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool, diag ...func() string) {
	t.Helper()
	ForEvery(t, Interval, timeout, what, cond, diag...)
}

// ForEvery is For checking cond every interval, for conditions that cost
// a process or a round trip to check.
func ForEvery(t testing.TB, interval, timeout time.Duration, what string, cond func() bool, diag ...func() string) {
	t.Helper()
	if cond() {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, d := range diag {
				t.Log(d())
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
			return
		case <-tick.C:
			if cond() {
				return
			}
		}
	}
}

// Recv waits up to timeout for a value on ch and fails t if none comes.
func Recv[T any](t testing.TB, timeout time.Duration, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	case <-t.Context().Done():
		t.Fatalf("test ended waiting for %s", what)
	}
	var zero T
	return zero
}
