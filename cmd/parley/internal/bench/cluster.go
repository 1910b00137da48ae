package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// roomName is the public room every benchmark node joins.
const roomName = "bench"

// cluster is a set of nodes in this process, all members of one room, each
// with a subscription whose arrivals are recorded.
type cluster struct {
	base  string // temp dir holding every node's data dir
	nodes []*node.Node
	subs  []*chat.Subscription
	arr   []*arrivals
	room  chat.Room
	wg    sync.WaitGroup
	// lossy is set when a load point lost messages: the next one repairs
	// first, or the lost events' children would all be orphans.
	lossy     bool
	lastSent  int             // messages the last load point sent (what a repair must cover)
	textBytes int             // size of the load's message texts (0: about sixty bytes)
	lastLats  []time.Duration // the last load point's latencies, sorted
	// disconnects counts connections the nodes saw close (each closed
	// connection counts once at each end), through notifiee, which Close
	// unregisters: a swarm that outlives its node must not keep the
	// cluster alive (the next part's memory baseline would count it).
	disconnects *atomic.Int64
	notifiee    network.Notifiee
}

// arrivals records when each message ID reached one node's feed.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

// record notes that message id arrived now.
func (a *arrivals) record(id string) {
	now := time.Now()
	a.mu.Lock()
	a.at[id] = now
	a.mu.Unlock()
}

func (a *arrivals) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}

func (a *arrivals) reset() {
	a.mu.Lock()
	a.at = make(map[string]time.Time, len(a.at))
	a.mu.Unlock()
}

// nodeLogger keeps the nodes quiet: only errors, on stderr.
// $PARLEY_BENCH_LOG (debug, info, warn) shows more.
func nodeLogger() *slog.Logger {
	var lvl slog.Level = slog.LevelError
	if v := os.Getenv("PARLEY_BENCH_LOG"); v != "" {
		lvl.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// benchConfig is a node configuration for 127.0.0.1 only (TCP, or QUIC
// if quic), mDNS and NAT port mapping off, RPC on a free loopback port.
func benchConfig(quic bool) node.Config {
	off := false
	listen := "/ip4/127.0.0.1/tcp/0"
	if quic {
		listen = "/ip4/127.0.0.1/udp/0/quic-v1"
	}
	return node.Config{
		Listen:     []string{listen},
		RPC:        "127.0.0.1:0",
		MDNS:       &off,
		NATPortMap: &off,
		LogLevel:   "error",
	}
}

// nodeSetup is how the harness starts a node.
type nodeSetup struct {
	mem  bool // an in-memory datastore instead of Pebble
	quic bool // listen on QUIC instead of TCP
	rpc  bool // serve the RPC
}

// startNode starts one node on dir.
func startNode(ctx context.Context, dir string, s nodeSetup) (*node.Node, error) {
	opts := node.Options{DataDir: dir, Config: benchConfig(s.quic), NoRPC: !s.rpc, Logger: nodeLogger(),
		// One author sends far above the anti-spam limits meant for
		// people (20 events/s per author); measure the node, not them.
		Chat: func(c *chat.Config) { c.Limits = chat.Limits{AuthorRate: -1, PeerRate: -1} },
		// No second sync 3 s after each topic join: every node of a
		// harness room joins at once, and those syncs would all land in
		// the first measurement (the idle window, or the first ingest
		// run, where they fetch events still in flight).
		Sync: func(c *ledgersync.Config) { c.Settle = -1 }}
	if s.mem {
		opts.Datastore = dssync.MutexWrap(ds.NewMapDatastore())
	}
	return node.New(ctx, opts)
}

// meshedCluster is newCluster, connected (cfg.Seed picks the random
// links) and meshed within wait; on error nothing is left running.
func meshedCluster(ctx context.Context, cfg Config, n int, rpc0 bool, wait time.Duration) (*cluster, error) {
	c, err := newCluster(ctx, cfg, n, rpc0)
	if err != nil {
		return nil, err
	}
	if err := c.connectMesh(ctx, cfg.Seed); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.waitMesh(ctx, wait); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newCluster starts n nodes as cfg says (the first with RPC if rpc0),
// joins them all to the room and seeds every node with every join event,
// as sync would, so that no message's parents are missing anywhere. It
// does not connect them.
func newCluster(ctx context.Context, cfg Config, n int, rpc0 bool) (_ *cluster, err error) {
	base, err := os.MkdirTemp("", "parley-bench-*")
	if err != nil {
		return nil, err
	}
	disconnects := new(atomic.Int64)
	c := &cluster{base: base, textBytes: cfg.TextBytes, disconnects: disconnects, notifiee: &network.NotifyBundle{
		DisconnectedF: func(network.Network, network.Conn) { disconnects.Add(1) },
	}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.nodes = make([]*node.Node, n)
	c.arr = make([]*arrivals, n)
	c.subs = make([]*chat.Subscription, n)
	// Start in parallel: Pebble's open and the host's setup dominate.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c.nodes[i], errs[i] = startNode(ctx, filepath.Join(base, fmt.Sprintf("n%02d", i)),
				nodeSetup{mem: cfg.Mem, quic: cfg.QUIC, rpc: rpc0 && i == 0})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("start nodes: %w", err)
	}
	for _, nd := range c.nodes {
		nd.P2P().Host().Network().Notify(c.notifiee)
	}
	var joins []*ledger.Event
	for _, nd := range c.nodes {
		if c.room, err = nd.Chat().Join(ctx, roomName); err != nil {
			return c, fmt.Errorf("join: %w", err)
		}
		evs, err := nd.Chat().Ledger().History(ctx, c.room.ID, "", 16)
		if err != nil {
			return c, err
		}
		joins = append(joins, evs...)
	}
	for _, nd := range c.nodes {
		if _, rej, err := nd.Chat().Ingest(ctx, c.room.ID, joins); err != nil || len(rej) > 0 {
			return c, fmt.Errorf("seed join events: %v %v", err, rej)
		}
	}
	for i, nd := range c.nodes {
		sub, err := nd.Chat().Subscribe(ctx, chat.Filter{Room: c.room.ID})
		if err != nil {
			return c, err
		}
		c.subs[i] = sub
		a := &arrivals{at: make(map[string]time.Time)}
		c.arr[i] = a
		c.wg.Go(func() {
			for m := range sub.C() {
				a.record(m.ID)
			}
		})
	}
	return c, nil
}

// connect links node i to j.
func (c *cluster) connect(ctx context.Context, i, j int) error {
	info, err := c.nodes[j].Info(ctx)
	if err != nil {
		return err
	}
	if len(info.Addrs) == 0 {
		return fmt.Errorf("node %d has no address", j)
	}
	if err := c.nodes[i].P2P().Connect(ctx, info.Addrs[0]); err != nil {
		return fmt.Errorf("connect %d to %d: %w", i, j, err)
	}
	return nil
}

// connectMesh links the nodes in a ring, to their second neighbour, and to
// two random others each, so every node has about six connections (the
// gossipsub mesh degree) and the graph has no single point of failure.
func (c *cluster) connectMesh(ctx context.Context, seed int64) error {
	for _, l := range meshLinks(len(c.nodes), seed) {
		if err := c.connect(ctx, l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

// meshLinks is the topology of a room of n nodes: a ring, the ring's
// second neighbours and two random links per node (seeded), so that every
// node has a handful of peers, as in a real room, and not all of them.
func meshLinks(n int, seed int64) [][2]int {
	rng := rand.New(rand.NewPCG(uint64(seed), 42))
	seen := map[[2]int]bool{}
	var links [][2]int
	add := func(a, b int) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		if l := [2]int{a, b}; !seen[l] {
			seen[l] = true
			links = append(links, l)
		}
	}
	for i := range n {
		add(i, (i+1)%n)
		if n > 4 {
			add(i, (i+2)%n)
			add(i, rng.IntN(n))
			add(i, rng.IntN(n))
		}
	}
	return links
}

// waitMesh waits until every node knows each connected peer as a member
// of the room's topic, then sends probe messages from node 0 until three
// in a row reach every other node, so that gossipsub's mesh has formed.
//
// A probe published before a peer's subscription is known is lost, and
// without sync every later message of node 0 (its child) would then wait
// for it forever as an orphan; so after a lost probe the sender's recent
// events are handed to every node as sync would.
func (c *cluster) waitMesh(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	topic := chat.TopicName(c.room.ID)
	for !c.topicsKnown(topic) {
		if ctx.Err() != nil {
			return fmt.Errorf("topic peers not known within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := probeUntilSteady(ctx, c.arr[1:], func(k int) (string, error) {
		m, err := c.nodes[0].Chat().Send(ctx, c.room.ID, fmt.Sprintf("probe %d", k))
		return m.ID, err
	}, func() error {
		return c.repair(ctx, 64) // the probes and their parents
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("mesh did not form within %s", timeout)
	}
	return err
}

// probeUntilSteady sends probes (send sends the k-th and returns its ID)
// until three in a row reach every receiver in arr within 500 ms each,
// calling missed after each probe that did not, or until ctx ends.
func probeUntilSteady(ctx context.Context, arr []*arrivals, send func(k int) (string, error), missed func() error) error {
	for k, streak := 0, 0; streak < 3; k++ {
		id, err := send(k)
		if err != nil {
			return fmt.Errorf("mesh did not form: %w", err)
		}
		deadline := time.Now().Add(500 * time.Millisecond)
		for !reachedAll(arr, id) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if reachedAll(arr, id) {
			streak++
		} else {
			streak = 0
			if err := missed(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// topicsKnown reports whether every node sees all its connected peers
// subscribed to topic.
func (c *cluster) topicsKnown(topic string) bool {
	for _, nd := range c.nodes {
		if !topicPeersKnown(len(nd.P2P().PubSub().ListPeers(topic)), len(nd.P2P().Host().Network().Peers())) {
			return false
		}
	}
	return true
}

// topicPeersKnown reports whether a node that has connected peers sees
// topicPeers of them subscribed: some, and all of its connections.
func topicPeersKnown(topicPeers, connected int) bool {
	return topicPeers > 0 && topicPeers >= connected
}

// repair gives every node node 0's newest n events, as sync would.
func (c *cluster) repair(ctx context.Context, n int) error {
	evs, err := c.nodes[0].Chat().Ledger().History(ctx, c.room.ID, "", n)
	if err != nil {
		return err
	}
	for _, nd := range c.nodes[1:] {
		if _, _, err := nd.Chat().Ingest(ctx, c.room.ID, evs); err != nil {
			return err
		}
	}
	return nil
}

// reachedAll reports whether message id arrived at every receiver in arr.
func reachedAll(arr []*arrivals, id string) bool {
	for _, a := range arr {
		if _, ok := a.get(id); !ok {
			return false
		}
	}
	return true
}

func (c *cluster) resetArrivals() {
	for _, a := range c.arr {
		a.reset()
	}
}

// Close closes every node (in parallel), waits for the recorders and
// removes the temp dirs.
func (c *cluster) Close() error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		if nd == nil {
			continue
		}
		wg.Go(func() {
			if c.subs[i] != nil {
				c.subs[i].Close()
			}
			nd.P2P().Host().Network().StopNotify(c.notifiee)
			errs[i] = nd.Close()
		})
	}
	wg.Wait()
	c.wg.Wait()
	return errors.Join(append(errs, os.RemoveAll(c.base))...)
}
