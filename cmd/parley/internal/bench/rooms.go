package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
)

// RoomsResult is what joined rooms cost a node: Nodes nodes, linked and
// meshed in one room, then each joins Rooms more (quiet) rooms.
type RoomsResult struct {
	Nodes int `json:"nodes"`
	Rooms int `json:"rooms"`
	// Join is the time for every node to join every room, one after
	// another (subscribe, store the join event, publish it).
	Join Dur `json:"join"`
	// Per node and per joined room, after a GC: live heap, the process's
	// own RSS (RssAnon) and goroutines.
	HeapPerRoom       float64 `json:"heapPerRoomBytes"`
	RSSPerRoom        float64 `json:"rssPerRoomBytes"`
	GoroutinesPerRoom float64 `json:"goroutinesPerRoom"`
	// IdleCPUOne and IdleCPUAll are the process's CPU time per node per
	// second of a quiet IdleWindow, in one room and in 1+Rooms rooms. The
	// second window starts 2 s after the joins, so it also holds each new
	// room's first discovery lookups (after 2, 4, 8, … s while a room has
	// fewer peers than it wants) and, with a long window, periodic syncs
	// of every room: the cost of rooms just joined, not of old ones.
	IdleCPUOne Dur    `json:"idleCpuOneRoom"`
	IdleCPUAll Dur    `json:"idleCpuAllRooms"`
	Err        string `json:"error,omitempty"`
}

// roomsCost measures cfg.Rooms extra rooms on cfg.RoomsNodes nodes.
func roomsCost(ctx context.Context, cfg Config, progress func(string, ...any)) (RoomsResult, error) {
	n := cfg.RoomsNodes
	r := RoomsResult{Nodes: n, Rooms: cfg.Rooms}
	debug.FreeOSMemory()
	c, err := meshedCluster(ctx, cfg, n, false, 60*time.Second)
	if err != nil {
		return r, err
	}
	defer c.Close()
	// Let the last joins' traffic settle before each CPU window.
	window := max(cfg.IdleWindow, time.Second)
	settledCPU := func() (Dur, error) {
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return 0, err
		}
		return idleCPU(ctx, window, n)
	}
	if r.IdleCPUOne, err = settledCPU(); err != nil {
		return r, err
	}
	rss0, heap0, gor0 := ownMem()
	t := time.Now()
	for i := range cfg.Rooms {
		for _, nd := range c.nodes {
			if _, err := nd.Chat().Join(ctx, fmt.Sprintf("quiet-%d", i)); err != nil {
				return r, fmt.Errorf("join room %d: %w", i, err)
			}
		}
	}
	r.Join = Dur(time.Since(t))
	progress("rooms: %d nodes joined %d rooms each in %s", n, cfg.Rooms, r.Join)
	if r.IdleCPUAll, err = settledCPU(); err != nil {
		return r, err
	}
	rss1, heap1, gor1 := ownMem()
	per := float64(n * cfg.Rooms)
	r.HeapPerRoom = (float64(heap1) - float64(heap0)) / per
	r.RSSPerRoom = (float64(rss1) - float64(rss0)) / per
	r.GoroutinesPerRoom = float64(gor1-gor0) / per
	return r, nil
}

// ownMem is the process's own resident memory (RssAnon, after returning
// freed heap to the OS), live heap and goroutines: VmRSS would also count
// pages of the executable first touched meanwhile.
func ownMem() (rss, heap uint64, goroutines int) {
	debug.FreeOSMemory() // also a GC
	_, heap, goroutines = readMem()
	return procRSSAnon(strconv.Itoa(os.Getpid())), heap, goroutines
}

// idleCPU is the process's CPU time per second over window, per node of n.
// It is the whole process's (runtime, GC and harness too), so it slightly
// overstates what each node costs, most with few nodes.
func idleCPU(ctx context.Context, window time.Duration, n int) (Dur, error) {
	cpu0, t0 := ProcessCPU(), time.Now()
	if err := sleepCtx(ctx, window); err != nil {
		return 0, err
	}
	return Dur(float64(ProcessCPU()-cpu0) / time.Since(t0).Seconds() / float64(n)), nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
