package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"
)

// Run measures everything cfg asks for and returns the report. Order:
// delivery and cost per room size first (while the process is fresh, so
// per-node memory is measured against a clean baseline), then delivery
// with one daemon process per node, ingest, catch-up, the soak and
// startup. A failing section is noted in the report and the others still
// run; the error is returned only for an invalid Config or a cancelled
// ctx.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Machine: thisMachine(), Config: ReportConfig{
		Store: "pebble", Transport: "tcp", Nodes: cfg.Nodes, Messages: cfg.Messages, Rates: cfg.Rates, LoadSecs: cfg.LoadDuration.Seconds(),
		TextBytes: cfg.TextBytes,
	}}
	if len(cfg.ProcNodes) > 0 {
		rep.Config.ProcNodes, rep.Config.ProcRates = cfg.ProcNodes, cfg.ProcRates
	}
	if cfg.Mem {
		rep.Config.Store = "memory"
	}
	if cfg.QUIC {
		rep.Config.Transport = "quic"
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}

	startProf, stopProf := func() {}, func() {}
	if cfg.CPUProfile != "" && len(cfg.Nodes)+len(cfg.Senders)+len(cfg.RPCClients) > 0 {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		// One profile for the delivery and ingest measurements, paused
		// during setup and data generation.
		profiling := false
		startProf = func() {
			if !profiling && pprof.StartCPUProfile(f) == nil {
				profiling = true
			}
		}
		stopProf = func() {
			if profiling {
				pprof.StopCPUProfile()
				profiling = false
			}
		}
		defer stopProf()
		rep.note("CPU profile of the delivery and ingest measurements in %s", cfg.CPUProfile)
	}
	// Rooms first: its RSS and idle CPU need a process that has not yet
	// run (and is still returning memory from) the big rooms.
	if cfg.Rooms > 0 {
		progress("rooms: %d nodes, %d quiet rooms each", cfg.RoomsNodes, cfg.Rooms)
		r, err := roomsCost(ctx, cfg, progress)
		if err != nil {
			r.Err = err.Error()
			if ctx.Err() == nil {
				rep.note("rooms: %v", err)
			}
		}
		rep.Rooms = &r
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	for _, n := range cfg.Nodes {
		if err := roomSize(ctx, cfg, n, rep, progress, startProf, stopProf); err != nil {
			rep.note("delivery with %d nodes: %v", n, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	switch {
	case len(cfg.ProcNodes) == 0:
	case cfg.Binary == "":
		rep.note("delivery with one process per node: skipped (no parley binary given)")
	default:
		for _, n := range cfg.ProcNodes {
			res, err := procsDelivery(ctx, cfg, n, progress)
			rep.ProcDelivery = append(rep.ProcDelivery, res...)
			if err != nil {
				rep.note("delivery with %d daemons: %v", n, err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	for _, n := range cfg.Bare {
		res, sat, err := bare(ctx, cfg, n, progress)
		rep.Bare = append(rep.Bare, res...)
		if sat != nil {
			rep.BareSaturation = append(rep.BareSaturation, *sat)
		}
		if err != nil {
			rep.note("bare pubsub with %d hosts: %v", n, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	if len(cfg.Senders)+len(cfg.RPCClients) > 0 {
		progress("ingest: %d messages per run", cfg.Messages)
		res, err := ingest(ctx, cfg, progress, startProf, stopProf)
		rep.Ingest = res
		if err != nil {
			rep.note("ingest: %v", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	for _, n := range cfg.Catchup {
		progress("catch-up of %d events", n)
		r, err := catchup(ctx, cfg, n)
		if err != nil {
			r.Err = err.Error()
		}
		rep.Catchup = append(rep.Catchup, r)
		progress("catch-up of %d: %s, %.0f events/s (%s)", n, r.Duration, r.PerSec, r.Wiring)
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	if cfg.Soak > 0 {
		progress("soak: %d nodes at %d msg/s for %s", cfg.SoakNodes, cfg.SoakRate, cfg.Soak)
		r, err := soak(ctx, cfg, progress)
		rep.Soak = r
		if err != nil && ctx.Err() == nil {
			rep.note("soak: %v", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	switch {
	case !cfg.Startup:
	case cfg.Binary == "":
		rep.note("startup: skipped (no parley binary given)")
	default:
		res, err := startup(ctx, cfg, progress)
		rep.Startup = res
		if err != nil {
			rep.note("startup: %v", err)
		}
	}
	rep.Elapsed = Dur(time.Since(start))
	return rep, ctx.Err()
}

// pointMessages is how many messages a delivery load point at rate sends.
func pointMessages(cfg Config, rate int) int {
	return min(cfg.Messages, max(int(float64(rate)*cfg.LoadDuration.Seconds()), 10))
}

// saturationPointTime is how long each point of a saturation probe sends.
func saturationPointTime(cfg Config) time.Duration { return min(cfg.LoadDuration, 2*time.Second) }

// roomSize measures delivery, saturation and cost in a room of n nodes.
func roomSize(ctx context.Context, cfg Config, n int, rep *Report, progress func(string, ...any), startProf, stopProf func()) error {
	debug.FreeOSMemory()
	base := takeBaseline()
	t := time.Now()
	c, err := meshedCluster(ctx, cfg, n, false, 60*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	progress("%d nodes up and meshed in %s", n, time.Since(t).Round(time.Millisecond))
	// Let the join and probe traffic settle before the idle samples.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	cost := CostResult{Nodes: n, Idle: base.sampleNow(n, true)}
	if cfg.IdleWindow > 0 {
		if cost.IdleCPU, err = idleCPU(ctx, cfg.IdleWindow, n); err != nil {
			return err
		}
	}

	startProf()
	defer stopProf()
	top := 0
	for _, rate := range cfg.Rates {
		top = max(top, rate)
	}
	for _, rate := range cfg.Rates {
		count := pointMessages(cfg, rate)
		var ms *memSampler
		if rate == top {
			ms = &memSampler{base: base}
		}
		r := c.deliveryPoint(ctx, rate, count, ms)
		rep.Delivery = append(rep.Delivery, r)
		progress("delivery %d nodes @ %d/s: %d sent, delivered %.4f, p50 %s p99 %s max %s", n, rate, r.Sent, r.Delivered, r.P50, r.P99, r.Max)
		if rate == top {
			cost.Load = r.Load
			cost.WireBytesPerDelivery, cost.SenderBytesPerMsg = r.WireBytesPerDelivery, r.SenderBytesPerMsg
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if cfg.Saturation && len(cfg.SaturationRates) > 0 {
		s := c.saturation(ctx, cfg.SaturationRates, saturationPointTime(cfg), 4*cfg.Messages)
		rep.Saturation = append(rep.Saturation, s)
		progress("saturation %d nodes: lossless up to %d msg/s", n, s.Lossless)
	}
	rep.Cost = append(rep.Cost, cost)
	return nil
}
