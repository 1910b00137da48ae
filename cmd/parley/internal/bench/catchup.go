package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// CatchupResult is one catch-up run: node B, a member of the room that was
// offline while A stored Missed events, connects to A and syncs.
type CatchupResult struct {
	Missed int `json:"missed"`
	// Wiring says who ran the sync protocol: "node" (the node wires
	// ledgersync itself), "harness" (the node does not yet; the harness
	// attached a ledgersync.Syncer to each node's host and chat service,
	// as node will), or "n/a".
	Wiring   string  `json:"wiring"`
	Duration Dur     `json:"duration"` // connect → B holds every event
	PerSec   float64 `json:"eventsPerSec"`
	// WireBytes is TCP payload both ways; PerEvent divides it by Missed.
	WireBytes     uint64  `json:"wireBytes"`
	BytesPerEvent float64 `json:"bytesPerEvent"`
	Complete      bool    `json:"complete"`
	Err           string  `json:"error,omitempty"`
}

// syncStore adapts chat.Service to ledgersync.Store.
type syncStore struct{ s *chat.Service }

func (a syncStore) Rooms(ctx context.Context) ([]string, error) {
	rs, err := a.s.Rooms(ctx)
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids, err
}
func (a syncStore) Ledger() *ledger.Ledger { return a.s.Ledger() }
func (a syncStore) Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error) {
	return a.s.Ingest(ctx, room, evs)
}

var _ ledgersync.Store = syncStore{}

// servesSync reports whether the node's host already speaks the sync protocol.
func servesSync(n *node.Node) bool {
	return slices.Contains(n.P2P().Host().Mux().Protocols(), protocol.ID(ledgersync.ProtocolID))
}

// catchup measures one catch-up of missed events.
func catchup(ctx context.Context, cfg Config, missed int) (r CatchupResult, err error) {
	r.Missed = missed
	c, err := newCluster(ctx, cfg, 2, false)
	if err != nil {
		return r, err
	}
	defer c.Close()
	a, b := c.nodes[0], c.nodes[1]
	room := c.room.ID
	if _, err := fillLedger(ctx, a.Chat().Ledger(), room, missed); err != nil {
		return r, err
	}
	ca, _ := a.Chat().Ledger().Count(ctx, room)
	cb, _ := b.Chat().Ledger().Count(ctx, room)
	// Join events were seeded on both, so the union is A's ledger.
	want := max(ca, cb)

	r.Wiring = "node"
	if !servesSync(a) {
		r.Wiring = "harness"
		for _, nd := range c.nodes {
			sy, err := ledgersync.New(nd.P2P().Host(), syncStore{nd.Chat()}, ledgersync.Config{Logger: nodeLogger()})
			if err != nil {
				return r, fmt.Errorf("start syncer: %w", err)
			}
			defer sy.Close()
		}
	}
	wire0 := c.wireBytes()
	start := time.Now()
	// B dials A, as a node coming back online dials its peers; sync starts
	// when identify completes.
	if err := c.connect(ctx, 1, 0); err != nil {
		return r, err
	}
	last, lastN := time.Now(), uint64(0)
	for {
		n, err := b.Chat().Ledger().Count(ctx, room)
		if err != nil {
			return r, err
		}
		if n >= want {
			r.Complete = true
			break
		}
		if n != lastN {
			last, lastN = time.Now(), n
		} else if time.Since(last) > 15*time.Second {
			r.Err = fmt.Sprintf("stalled at %d of %d events", n, want)
			break
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.Duration = Dur(time.Since(start))
	sent, _ := c.wireBytes().sub(wire0, len(c.nodes))
	r.WireBytes = sent.total()
	r.PerSec = float64(lastOr(r.Complete, missed, int(lastN))) / time.Duration(r.Duration).Seconds()
	r.BytesPerEvent = float64(r.WireBytes) / float64(missed)
	return r, nil
}

func lastOr(complete bool, all, got int) int {
	if complete {
		return all
	}
	return got
}
