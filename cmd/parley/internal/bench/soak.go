package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"time"
)

// SoakResult is a room under steady load for a long time, sampled at
// intervals: does memory level off and does latency stay where it was?
// What grows without bound in a node (a cache without eviction, a map
// nobody prunes, a goroutine per message) shows up here and not in a 10 s
// load point, and so does what slows down as the ledger grows.
type SoakResult struct {
	Nodes   int          `json:"nodes"`
	Rate    int          `json:"ratePerSec"`
	Samples []SoakSample `json:"samples"`
	// P50, P99 and Max are over every (message, receiver) pair of the
	// whole soak: how often the rare stall (a memtable rotation, a GC)
	// hits, which one interval's p99 does not tell.
	P50 Dur `json:"p50"`
	P99 Dur `json:"p99"`
	Max Dur `json:"max"`
	// HeapSlope is the least-squares slope of live heap per node over the
	// second half of the samples, in bytes per node per minute: near 0
	// once every cache with a time window (pubsub's seen window) is
	// full, if nothing leaks.
	HeapSlope float64 `json:"heapSlopePerNodePerMin"`
	Err       string  `json:"error,omitempty"`
}

// SoakSample is one interval of a soak.
type SoakSample struct {
	Elapsed Dur `json:"elapsed"` // since the load started, at the end of the interval
	Sent    int `json:"sent"`    // messages sent so far
	// Delivered, P50 and P99 are those of the interval's messages.
	Delivered float64 `json:"deliveredFraction"`
	P50       Dur     `json:"p50"`
	P99       Dur     `json:"p99"`
	// Mem is taken after the interval's messages were delivered, after a
	// GC, so the heap is what is live.
	Mem MemSample `json:"mem"`
}

// soakInterval is how long each sample's interval is: a tenth of the
// soak, at least a second.
func soakInterval(d time.Duration) time.Duration { return max(d/10, time.Second) }

// soak runs cfg.SoakNodes nodes at cfg.SoakRate msg/s for cfg.Soak.
func soak(ctx context.Context, cfg Config, progress func(string, ...any)) (*SoakResult, error) {
	n := cfg.SoakNodes
	res := &SoakResult{Nodes: n, Rate: cfg.SoakRate}
	// Room for every latency of the soak, allocated before the baseline:
	// a slice growing inside the measured heap would read as the nodes'
	// growth.
	all := make([]time.Duration, 0, int(float64(cfg.SoakRate)*cfg.Soak.Seconds()*1.2)*(n-1)+1024)
	debug.FreeOSMemory() // earlier parts' memory must not count against the baseline
	base := settledBaseline(ctx, 3*time.Second)
	c, err := meshedCluster(ctx, cfg, n, false, 60*time.Second)
	if err != nil {
		return res, err
	}
	defer c.Close()
	every := soakInterval(cfg.Soak)
	per := max(int(float64(cfg.SoakRate)*every.Seconds()), 1)
	start := time.Now()
	sent := 0
	for time.Since(start) < cfg.Soak && ctx.Err() == nil {
		r := c.deliveryPoint(ctx, cfg.SoakRate, per, nil)
		if r.Err != "" {
			res.Err = r.Err
			break // report what was measured up to here
		}
		sent += r.Sent
		all = append(all, c.lastLats...)
		s := SoakSample{Elapsed: Dur(time.Since(start)), Sent: sent, Delivered: r.Delivered,
			P50: r.P50, P99: r.P99, Mem: base.sampleNow(n, true)}
		res.Samples = append(res.Samples, s)
		progress("soak %s: %d sent, delivered %.4f, p99 %s, heap/node %s", time.Duration(s.Elapsed).Round(time.Second),
			sent, s.Delivered, s.P99, mib(s.Mem.HeapPerNode))
	}
	res.HeapSlope = heapSlope(res.Samples[len(res.Samples)/2:])
	if len(all) > 0 {
		slices.Sort(all)
		res.P50, res.P99, res.Max = Dur(pct(all, 0.5)), Dur(pct(all, 0.99)), Dur(all[len(all)-1])
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	if cfg.MemProfile != "" {
		if err := writeHeapProfile(cfg.MemProfile); err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

// heapSlope is the least-squares slope of heap per node against time, in
// bytes per minute (0 for fewer than two samples).
func heapSlope(ss []SoakSample) float64 {
	if len(ss) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x := time.Duration(s.Elapsed).Minutes()
		y := s.Mem.HeapPerNode
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	k := float64(len(ss))
	d := k*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (k*sxy - sx*sy) / d
}

// writeHeapProfile writes the live heap (as of the last GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
