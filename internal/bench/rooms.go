package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
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
	// Per node and per joined room, after a GC: live heap, RSS and
	// goroutines.
	HeapPerRoom       float64 `json:"heapPerRoomBytes"`
	RSSPerRoom        float64 `json:"rssPerRoomBytes"`
	GoroutinesPerRoom float64 `json:"goroutinesPerRoom"`
	// IdleCPUOne and IdleCPUAll are the CPU time per node per second of a
	// quiet IdleWindow, in one room and in 1+Rooms rooms.
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
	idleCPU := func() (Dur, error) {
		// Let the last joins' traffic settle first.
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return 0, err
		}
		cpu0, t0 := ProcessCPU(), time.Now()
		if err := sleepCtx(ctx, max(cfg.IdleWindow, time.Second)); err != nil {
			return 0, err
		}
		return Dur(float64(ProcessCPU()-cpu0) / time.Since(t0).Seconds() / float64(n)), nil
	}
	if r.IdleCPUOne, err = idleCPU(); err != nil {
		return r, err
	}
	runtime.GC()
	rss0, heap0, gor0 := readMem()
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
	if r.IdleCPUAll, err = idleCPU(); err != nil {
		return r, err
	}
	runtime.GC()
	rss1, heap1, gor1 := readMem()
	per := float64(n * cfg.Rooms)
	r.HeapPerRoom = (float64(heap1) - float64(heap0)) / per
	r.RSSPerRoom = (float64(rss1) - float64(rss0)) / per
	r.GoroutinesPerRoom = float64(gor1-gor0) / per
	return r, nil
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
