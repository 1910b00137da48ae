package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
)

// TestChurnSoak runs 10 nodes that randomly stop, restart and get cut off
// from each other while all of them send. At the end every node has the
// identical history and every acknowledged message is in it; goroutines
// and heap return near their starting level.
//
// It takes a minute or more, so it runs only with PARLEY_SOAK=1
// (PARLEY_SOAK_SECONDS sets the churn phase, default 45):
//
//	PARLEY_SOAK=1 go test ./node -run TestChurnSoak -v -timeout 10m
func TestChurnSoak(t *testing.T) {
	if os.Getenv("PARLEY_SOAK") == "" {
		t.Skip("soak test: set PARLEY_SOAK=1 to run (see docs/RELIABILITY.md)")
	}
	churn := 45 * time.Second
	if s, err := strconv.Atoi(os.Getenv("PARLEY_SOAK_SECONDS")); err == nil {
		churn = time.Duration(s) * time.Second
	}
	const n = 10
	runtime.GC()
	startGoroutines := runtime.NumGoroutine()

	// Fixed loopback ports, so a restarted node is found again at its
	// address by the others' bootstrap loops.
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
		if _, err := node.Init(dirs[i]); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(i int) string {
		key, _, _ := node.LoadOrCreateKey(dirs[i] + "/" + node.KeyFile)
		id, _ := peerIDOf(key)
		return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", ports[i], id)
	}
	start := func(i int) *node.Node {
		cfg := testConfig()
		cfg.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ports[i])}
		cfg.Peers = []string{addr((i + 1) % n), addr((i + 3) % n)} // a ring with chords
		nd, err := node.New(context.Background(), node.Options{DataDir: dirs[i], Config: cfg, NoRPC: true,
			P2P: func(c *p2p.Config) {
				c.BootstrapBackoffMin = 100 * time.Millisecond
				c.BootstrapBackoffMax = time.Second
			}})
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		if _, err := nd.Chat().Join(context.Background(), "soak"); err != nil {
			t.Fatal(err)
		}
		return nd
	}

	var mu sync.Mutex
	nodes := make([]*node.Node, n)
	for i := range nodes {
		nodes[i] = start(i)
	}
	acked := map[string]bool{}
	ctx, stop := context.WithTimeout(context.Background(), churn)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { // sender
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				mu.Lock()
				nd := nodes[i]
				mu.Unlock()
				if nd == nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				m, err := nd.Chat().Send(ctx, "soak", fmt.Sprintf("n%d #%d", i, k))
				if err == nil {
					mu.Lock()
					acked[m.ID] = true
					mu.Unlock()
				}
				time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
			}
		}()
	}
	stops, cuts := 0, 0
	for ctx.Err() == nil {
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		i := rand.IntN(n)
		mu.Lock()
		nd := nodes[i]
		mu.Unlock()
		switch {
		case nd == nil: // restart a stopped node
			nd = start(i)
			mu.Lock()
			nodes[i] = nd
			mu.Unlock()
		case rand.IntN(3) == 0: // cut it off from everyone it is connected to
			for _, c := range nd.P2P().Host().Network().Conns() {
				c.Close()
			}
			cuts++
		default: // stop it
			mu.Lock()
			nodes[i] = nil
			mu.Unlock()
			if err := nd.Close(); err != nil {
				t.Errorf("close node %d: %v", i, err)
			}
			stops++
		}
	}
	stop()
	wg.Wait()
	for i := range nodes {
		if nodes[i] == nil {
			nodes[i] = start(i)
		}
	}
	t.Logf("churn %s: %d stops, %d cuts, %d messages acknowledged", churn, stops, cuts, len(acked))

	// Convergence: every node ends with the same history containing every
	// acknowledged message.
	var first []string
	testwait.For(t, 90*time.Second, "the nodes to converge", func() bool {
		first = nil
		for i, nd := range nodes {
			ids := allIDs(t, nd)
			if i == 0 {
				first = ids
			} else if !slices.Equal(ids, first) {
				return false
			}
		}
		return len(first) >= len(acked)
	})
	have := map[string]bool{}
	for _, id := range first {
		have[id] = true
	}
	for id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged message %s missing after churn", id)
		}
	}
	for i, nd := range nodes {
		if rep, err := nd.Chat().Verify(context.Background(), ""); err != nil || !rep.OK {
			t.Fatalf("node %d verify: %+v %v", i, rep, err)
		}
		nd.Close()
	}
	t.Logf("converged: %d messages on all %d nodes, 0 acknowledged lost", len(first), n)

	// Leaks: everything the nodes started has stopped.
	testwait.For(t, 10*time.Second, "the nodes' goroutines to end", func() bool { return runtime.NumGoroutine() <= startGoroutines+5 },
		func() string {
			buf := make([]byte, 1<<20)
			return fmt.Sprintf("goroutines: %d at start, %d after closing every node\n%s", startGoroutines, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		})
}

// allIDs returns a node's whole room history, in order.
func allIDs(t *testing.T, nd *node.Node) []string {
	var out []string
	before := ""
	for {
		page, err := nd.Chat().History(context.Background(), "soak", chat.HistoryQuery{Limit: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		out = append(ids(page), out...)
		if len(page) < 1000 {
			return out
		}
		before = page[0].ID
	}
}
