package bench

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc"
)

// Config selects what Run measures and how big the runs are. Start from
// DefaultConfig (small: it finishes in under a minute on two cores) or
// FullConfig (the sizes of issue 6).
type Config struct {
	// Nodes are the room sizes for the delivery measurement (default [10]).
	Nodes []int
	// Messages bounds the messages of each ingest run and of each load
	// point of the delivery measurement (default 2,000).
	Messages int
	// Rates are the offered loads of the delivery measurement, messages/s
	// (default [100, 1000]).
	Rates []int
	// LoadDuration bounds how long one delivery load point sends (so a
	// 100 msg/s point sends min(Messages, 100*LoadDuration) messages).
	// Default 3 s.
	LoadDuration time.Duration
	// IdleWindow is how long the CPU of an idle room is measured before
	// its load points (heartbeats, gossip, periodic sync: what a node
	// costs a laptop while nobody talks).
	IdleWindow time.Duration
	// Rooms is how many quiet rooms each of RoomsNodes nodes joins to
	// measure what a joined room costs (0: skip).
	Rooms      int
	RoomsNodes int
	// Senders are the concurrent chat.Service.Send callers of the ingest
	// measurement (default [1, 64]).
	Senders []int
	// RPCClients are the concurrent RPC clients of the ingest measurement
	// (default [1, 8]).
	RPCClients []int
	// RPCBatch, if above 1, adds for the largest of RPCClients a run in
	// which every client sends its messages in JSON-RPC batches of this
	// many msg_send calls, as a bridge or importer would (default 16; 0
	// or 1: no such run). At most rpc.DefaultMaxBatch.
	RPCBatch int
	// ProcNodes are room sizes for delivery measured with one parley
	// daemon process per node (needs Binary; default none, --full 10 and
	// 30): what users run, without the shared heap of the in-process rooms.
	ProcNodes []int
	// ProcRates are the offered loads of that measurement (default [100]).
	ProcRates []int
	// Bare are room sizes for the bare-pubsub baseline: go-libp2p-pubsub
	// alone on default go-libp2p hosts, with the delivery rooms' topology,
	// load points, payload size and gossip parameters, and pubsub's own
	// signatures (one Ed25519 check per hop). What the transport costs on
	// this machine in the same run (default none; --full 10 and 30).
	Bare []int
	// Saturation runs the saturation probe in every room size: rising
	// offered loads until one loses a message (default true).
	Saturation bool
	// SaturationRates are the loads the probe tries, in order.
	SaturationRates []int
	// Catchup are the numbers of missed events of the catch-up measurement
	// (default [10000]); empty skips it.
	Catchup []int
	// Startup measures daemon start to first answered RPC (needs Binary).
	Startup bool
	// StartupEvents is the size of the large data dir (default 20,000,
	// so that the default run stays under a minute; FullConfig 100,000).
	StartupEvents int
	// StartupRuns is how many starts are timed per data dir (default 3).
	StartupRuns int
	// Binary is the parley executable for the startup measurement; empty
	// skips it (the figures say why).
	Binary string
	// Soak, if positive, runs a room of SoakNodes nodes at SoakRate msg/s
	// for this long, sampling memory and latency every tenth of it (at
	// least every second). Default 0: off (it is long by nature).
	Soak      time.Duration
	SoakNodes int // default 10
	SoakRate  int // default 100
	// TextBytes is the size of every load message's text, from
	// MinTextBytes to chat.MaxTextBytes (default 0: about sixty bytes, a
	// typical chat line). Larger texts show what the per-message costs
	// hide: bytes to hash, sign, copy, store and gossip.
	TextBytes int
	// Mem gives every node an in-memory datastore instead of Pebble.
	Mem bool
	// QUIC has the in-process nodes listen on QUIC instead of TCP (with
	// Noise and yamux): go-libp2p prefers QUIC when a peer offers both, as
	// a daemon's default addresses do.
	QUIC bool
	// CPUProfile, if set, receives a CPU profile of the delivery and
	// ingest measurements (not of setup or data generation).
	CPUProfile string
	// MemProfile, if set, receives a heap profile at the end of the soak,
	// while its room still runs: what the nodes keep live under load.
	MemProfile string
	// Progress receives one line per step; nil means silent.
	Progress io.Writer
	// Seed makes the random links between nodes reproducible.
	Seed int64
}

// MinTextBytes is the smallest TextBytes: a load text's first bytes are
// what makes it unique.
const MinTextBytes = 32

// DefaultConfig is the small run of `parley bench` without flags.
func DefaultConfig() Config {
	return Config{
		Nodes:           []int{10},
		Messages:        2000,
		Rates:           []int{100, 1000},
		LoadDuration:    3 * time.Second,
		IdleWindow:      3 * time.Second,
		Rooms:           50,
		RoomsNodes:      3,
		Senders:         []int{1, 64},
		RPCClients:      []int{1, 8},
		RPCBatch:        16,
		ProcRates:       []int{100},
		Saturation:      true,
		SaturationRates: []int{500, 1000, 2000, 3000, 4000},
		Catchup:         []int{10000},
		Startup:         true,
		StartupEvents:   20000,
		StartupRuns:     3,
		SoakNodes:       10,
		SoakRate:        100,
		Seed:            1,
	}
}

// FullConfig is the run of issue 6: 10- and 30-node rooms, 10,000 and
// 100,000 missed events, longer load points.
func FullConfig() Config {
	c := DefaultConfig()
	c.Nodes = []int{10, 30}
	c.ProcNodes = []int{10, 30}
	c.Bare = []int{10, 30}
	c.Messages = 10000
	c.LoadDuration = 10 * time.Second
	c.IdleWindow = 40 * time.Second // covers a periodic sync of every node (every 30 s ± 25 %)
	c.Rooms = 200
	c.Catchup = []int{10000, 100000}
	c.StartupEvents = 100000
	c.SaturationRates = []int{250, 500, 750, 1000, 1500, 2000, 3000, 4000}
	return c
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	for _, n := range c.Nodes {
		if n < 2 {
			return fmt.Errorf("bench: room of %d nodes: want at least 2", n)
		}
	}
	for _, n := range c.Bare {
		if n < 2 {
			return fmt.Errorf("bench: bare-pubsub room of %d hosts: want at least 2", n)
		}
	}
	for _, n := range c.ProcNodes {
		if n < 2 {
			return fmt.Errorf("bench: room of %d daemons: want at least 2", n)
		}
	}
	for _, r := range append(append(append([]int{}, c.Rates...), c.SaturationRates...), c.ProcRates...) {
		if r <= 0 {
			return fmt.Errorf("bench: rate %d: want > 0", r)
		}
	}
	for _, n := range append(append(append([]int{}, c.Senders...), c.RPCClients...), c.Catchup...) {
		if n <= 0 {
			return fmt.Errorf("bench: count %d: want > 0", n)
		}
	}
	switch {
	case c.Messages <= 0:
		return errors.New("bench: messages must be > 0")
	case c.RPCBatch < 0 || c.RPCBatch > rpc.DefaultMaxBatch:
		return fmt.Errorf("bench: rpc batch %d: want 0 to %d", c.RPCBatch, rpc.DefaultMaxBatch)
	case c.LoadDuration <= 0:
		return errors.New("bench: load duration must be > 0")
	case c.Soak < 0 || c.Soak > 0 && (c.SoakNodes < 2 || c.SoakRate <= 0):
		return errors.New("bench: soak needs a duration >= 0, at least 2 nodes and a rate > 0")
	case c.Rooms < 0 || c.Rooms > 0 && c.RoomsNodes < 2:
		return errors.New("bench: rooms must be >= 0, on at least 2 nodes")
	case c.TextBytes != 0 && (c.TextBytes < MinTextBytes || c.TextBytes > chat.MaxTextBytes):
		return fmt.Errorf("bench: text size %d bytes: want %d to %d", c.TextBytes, MinTextBytes, chat.MaxTextBytes)
	case c.IdleWindow < 0:
		return errors.New("bench: idle window must be >= 0")
	case c.Startup && (c.StartupEvents < 0 || c.StartupRuns <= 0):
		return errors.New("bench: startup events must be >= 0 and runs > 0")
	}
	return nil
}
