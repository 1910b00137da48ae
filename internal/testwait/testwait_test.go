package testwait

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestForInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ready := time.Now().Add(time.Minute)
		For(t, 2*time.Minute, "a minute to pass", func() bool { return !time.Now().Before(ready) })
		if el := time.Since(start); el < time.Minute || el > time.Minute+Interval {
			t.Fatalf("waited %v of virtual time, want ~1m", el)
		}
	})
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Recv(t, time.Second, "a value", ch); got != 7 {
		t.Fatalf("got %d, want 7", got)
	}
}

func TestForEveryChecksAtItsInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start, calls := time.Now(), 0
		ForEvery(t, time.Second, time.Minute, "the fifth check", func() bool { calls++; return calls == 5 })
		if el := time.Since(start); calls != 5 || el != 4*time.Second {
			t.Fatalf("%d checks in %v of virtual time, want 5 in 4s", calls, el)
		}
	})
}
