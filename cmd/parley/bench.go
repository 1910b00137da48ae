package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/cmd/parley/internal/bench"
)

// benchCommand is `parley bench`: real nodes in this process on 127.0.0.1,
// measured (see internal/bench and docs/BENCHMARKS.md).
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "start nodes on 127.0.0.1 in this process and measure ingest, delivery, catch-up, cost and startup",
		Description: "The defaults finish in under a minute; --full runs the sizes of the published figures\n" +
			"(10- and 30-node rooms, 10,000 and 100,000 missed events). Flags given with --full override it.",
		Flags: []cli.Flag{
			&cli.IntSliceFlag{Name: "nodes", Usage: "room sizes for the delivery measurement (default 10; --full: 10,30)"},
			&cli.IntFlag{Name: "messages", Usage: "messages per ingest run and at most per load point (default 2000)"},
			&cli.IntSliceFlag{Name: "procs", Usage: "room sizes for delivery with one parley daemon process per node (default none; --full: 10,30)"},
			&cli.IntSliceFlag{Name: "procs-rates", Usage: "offered loads of the one-process-per-node delivery, messages/s (default 100)"},
			&cli.IntSliceFlag{Name: "bare", Usage: "room sizes for the bare go-libp2p-pubsub baseline, at the --rates loads (default none; --full: 10,30)"},
			&cli.IntSliceFlag{Name: "rates", Usage: "offered loads, messages/s (default 100,1000)"},
			&cli.DurationFlag{Name: "duration", Usage: "longest a load point sends (default 3s)"},
			&cli.IntSliceFlag{Name: "senders", Usage: "concurrent chat senders of the ingest runs (default 1,64)"},
			&cli.IntSliceFlag{Name: "rpc-clients", Usage: "concurrent RPC clients of the ingest runs (default 1,8)"},
			&cli.IntFlag{Name: "rpc-batch", Usage: "also send with the most RPC clients in JSON-RPC batches of this many msg_send calls (default 16; 0 or 1: no such run)"},
			&cli.IntSliceFlag{Name: "catchup", Usage: "missed events of the catch-up runs (default 10000; --full: 10000,100000)"},
			&cli.IntFlag{Name: "startup-events", Usage: "events in the large data dir of the startup measurement (default 20000; --full: 100000)"},
			&cli.BoolFlag{Name: "no-startup", Usage: "skip the startup measurement"},
			&cli.BoolFlag{Name: "no-saturation", Usage: "skip the saturation probe"},
			&cli.StringFlag{Name: "binary", Usage: "parley executable for the startup and one-process-per-node measurements (default: this one)"},
			&cli.DurationFlag{Name: "idle", Usage: "how long the CPU of each quiet room is measured before its load points (default 3s; --full: 40s)"},
			&cli.IntFlag{Name: "rooms", Usage: "quiet rooms each of 3 nodes joins, to measure what a joined room costs (default 50; --full: 200; 0 skips)"},
			&cli.DurationFlag{Name: "soak", Usage: "also run a room at a steady load this long, sampling memory and latency (default off; --only soak: 2m)"},
			&cli.IntFlag{Name: "soak-nodes", Usage: "nodes of the soak room (default 10)"},
			&cli.IntFlag{Name: "soak-rate", Usage: "offered load of the soak, messages/s (default 100)"},
			&cli.IntFlag{Name: "size", Usage: "bytes of every load message's text, 32 to 16384 (default: about 60, a typical chat line)"},
			&cli.BoolFlag{Name: "mem", Usage: "in-memory datastores instead of Pebble in temp dirs"},
			&cli.BoolFlag{Name: "quic", Usage: "in-process nodes listen on QUIC instead of TCP"},
			&cli.BoolFlag{Name: "full", Usage: "the full-size run (several minutes)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the delivery and ingest measurements to `FILE`"},
			&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile of what the soak's nodes keep live to `FILE` (with --soak)"},
			&cli.StringSliceFlag{Name: "only", Usage: "measure only these parts: delivery, procs, bare, ingest, rooms, catchup, soak, startup (default all but soak)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress lines on stderr"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("bench takes no arguments, got %q", cmd.Args().Slice())
			}
			cfg := bench.DefaultConfig()
			if cmd.Bool("full") {
				cfg = bench.FullConfig()
			}
			ints := func(name string, dst *[]int) {
				if cmd.IsSet(name) {
					*dst = cmd.IntSlice(name)
				}
			}
			ints("nodes", &cfg.Nodes)
			ints("rates", &cfg.Rates)
			ints("procs", &cfg.ProcNodes)
			ints("procs-rates", &cfg.ProcRates)
			ints("bare", &cfg.Bare)
			ints("senders", &cfg.Senders)
			ints("rpc-clients", &cfg.RPCClients)
			ints("catchup", &cfg.Catchup)
			if cmd.IsSet("rpc-batch") {
				cfg.RPCBatch = int(cmd.Int("rpc-batch"))
			}
			if cmd.IsSet("messages") {
				cfg.Messages = int(cmd.Int("messages"))
			}
			if cmd.IsSet("duration") {
				cfg.LoadDuration = cmd.Duration("duration")
			}
			if cmd.IsSet("rooms") {
				cfg.Rooms = int(cmd.Int("rooms"))
			}
			if cmd.IsSet("idle") {
				cfg.IdleWindow = cmd.Duration("idle")
			}
			if cmd.IsSet("startup-events") {
				cfg.StartupEvents = int(cmd.Int("startup-events"))
			}
			cfg.Soak = cmd.Duration("soak")
			if cmd.IsSet("soak-nodes") {
				cfg.SoakNodes = int(cmd.Int("soak-nodes"))
			}
			if cmd.IsSet("soak-rate") {
				cfg.SoakRate = int(cmd.Int("soak-rate"))
			}
			cfg.Startup = !cmd.Bool("no-startup")
			cfg.Saturation = !cmd.Bool("no-saturation")
			if cmd.IsSet("only") {
				if cmd.IsSet("rooms") && cfg.Rooms == 0 && slices.Contains(cmd.StringSlice("only"), "rooms") {
					return usagef("--only rooms with --rooms 0 measures nothing")
				}
				if err := onlyParts(&cfg, cmd.StringSlice("only")); err != nil {
					return usageError{err}
				}
			}
			cfg.Mem = cmd.Bool("mem")
			cfg.QUIC = cmd.Bool("quic")
			cfg.TextBytes = int(cmd.Int("size"))
			cfg.CPUProfile = cmd.String("cpuprofile")
			for _, f := range []string{"memprofile", "soak-nodes", "soak-rate"} {
				if cmd.IsSet(f) && cfg.Soak == 0 {
					return usagef("--%s is for the soak, and this run has none (give --soak DURATION, and soak in --only if --only is given)", f)
				}
			}
			cfg.MemProfile = cmd.String("memprofile")
			cfg.Seed = time.Now().UnixNano()
			if cfg.Binary = cmd.String("binary"); cfg.Binary == "" {
				cfg.Binary, _ = os.Executable()
			}
			if !cmd.Bool("quiet") {
				cfg.Progress = cmd.Root().ErrWriter
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			rep, err := bench.Run(ctx, cfg)
			if rep != nil {
				w := cmd.Root().Writer
				if cmd.Bool("json") {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else if err := rep.WriteTable(w); err != nil {
					return err
				}
			}
			return err
		},
	}
}

// onlyParts keeps only the named parts of cfg's run.
func onlyParts(cfg *bench.Config, parts []string) error {
	keep := map[string]bool{}
	for _, p := range parts {
		switch p {
		case "delivery", "procs", "bare", "ingest", "rooms", "catchup", "soak", "startup":
			keep[p] = true
		default:
			return fmt.Errorf("--only %q: want delivery, procs, bare, ingest, rooms, catchup, soak or startup", p)
		}
	}
	if !keep["bare"] {
		cfg.Bare = nil
	} else if len(cfg.Bare) == 0 {
		cfg.Bare = []int{10} // asked for by name: measure something
	}
	if !keep["delivery"] {
		cfg.Nodes = nil
	}
	if !keep["procs"] {
		cfg.ProcNodes = nil
	} else if len(cfg.ProcNodes) == 0 {
		cfg.ProcNodes = []int{10} // asked for by name: measure something
	}
	if !keep["ingest"] {
		cfg.Senders, cfg.RPCClients = nil, nil
	}
	if !keep["rooms"] {
		cfg.Rooms = 0
	} else if cfg.Rooms == 0 {
		cfg.Rooms = 50 // asked for by name: measure something
	}
	if !keep["catchup"] {
		cfg.Catchup = nil
	}
	if !keep["startup"] {
		cfg.Startup = false
	}
	if !keep["soak"] {
		cfg.Soak = 0
	} else if cfg.Soak == 0 {
		cfg.Soak = 2 * time.Minute
	}
	return nil
}
