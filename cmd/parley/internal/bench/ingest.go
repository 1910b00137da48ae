package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/client"
)

// IngestResult is one ingest run: Messages sent on node 0 as fast as
// Concurrency callers can, through API ("chat" or "rpc"), while node 1,
// connected, receives them; or, with Alone, on a node with no peer.
type IngestResult struct {
	API         string `json:"api"` // "chat" (chat.Service.Send) or "rpc" (msg_send over HTTP)
	Concurrency int    `json:"concurrency"`
	// Alone is a run on a node with no peer: the sending node's own cost
	// (sign, store, fsync, publish to nobody), without a receiver's
	// verification and storage on the same cores. Received and Lost are
	// then zero: there is no one to receive.
	Alone bool `json:"alone,omitempty"`
	// Batch is how many msg_send calls each RPC request carries (a
	// JSON-RPC batch); 1 for single calls and for chat.
	Batch    int     `json:"batch"`
	Messages int     `json:"messages"`
	Errors   int     `json:"errors"`
	PerSec   float64 `json:"perSec"` // acknowledged (durable) sends per second
	// CallP50 and CallP99 are the time from a call to its answer; with
	// batches, from the request to the answer to the whole batch.
	CallP50 Dur `json:"callP50"`
	CallP99 Dur `json:"callP99"`
	// Received is how many reached node 1's feed; Lost = Messages-Errors-Received.
	Received int `json:"received"`
	Lost     int `json:"lost"`
	// ReceiveLag is how long after the last acknowledgement node 1 had
	// everything (or gave up).
	ReceiveLag Dur `json:"receiveLag"`
	// CPUPerMsg is the whole process's CPU time (user + system) from the
	// first send until node 1 had everything, per acknowledged message:
	// sender, receiver and, for rpc, the HTTP clients. Cores is that CPU
	// over the same wall time: near the machine's core count, the run
	// was CPU-bound; well below it, it waited (on the disk, or on
	// hand-offs between goroutines).
	CPUPerMsg Dur     `json:"cpuPerMsg"`
	Cores     float64 `json:"cores"`
}

// sendFunc sends the messages numbered idx with caller w in one call and
// sets ids[j] to the ID of message idx[j], leaving it empty if that send
// failed.
type sendFunc func(ctx context.Context, w int, idx []int, ids []string)

// single adapts a one-message send to sendFunc.
func single(send func(ctx context.Context, w, i int) (string, error)) sendFunc {
	return func(ctx context.Context, w int, idx []int, ids []string) {
		if id, err := send(ctx, w, idx[0]); err == nil {
			ids[0] = id
		}
	}
}

// ingestRun sends count messages with conc callers of send, batch messages
// per call, and waits for node 1 to receive them.
func (c *cluster) ingestRun(ctx context.Context, api string, conc, batch, count int, send sendFunc) IngestResult {
	r := IngestResult{API: api, Concurrency: conc, Batch: batch, Messages: count}
	if c.lossy {
		c.repair(ctx, c.lastSent+64)
		c.lossy = false
	}
	alone := len(c.nodes) == 1
	r.Alone = alone
	c.resetArrivals()
	c.lastSent = count
	msgs := make([]sent, count)
	durs := make([]time.Duration, count)
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	cpu0 := ProcessCPU()
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			idx := make([]int, 0, batch)
			ids := make([]string, batch)
			for {
				first := int(next.Add(int64(batch))) - batch
				if first >= count || ctx.Err() != nil {
					return
				}
				idx = idx[:0]
				for i := first; i < min(first+batch, count); i++ {
					idx = append(idx, i)
				}
				clear(ids)
				t0 := time.Now()
				send(ctx, w, idx, ids[:len(idx)])
				d := time.Since(t0)
				for j, i := range idx {
					durs[i] = d
					if ids[j] == "" {
						errs.Add(1)
						continue
					}
					msgs[i] = sent{ids[j], t0}
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	r.Errors = int(errs.Load())
	r.PerSec = float64(count-r.Errors) / el.Seconds()
	slices.Sort(durs)
	r.CallP50, r.CallP99 = Dur(pct(durs, 0.5)), Dur(pct(durs, 0.99))
	acked := msgs[:0:0]
	for _, m := range msgs {
		if m.id != "" {
			acked = append(acked, m)
		}
	}
	if !alone {
		t := time.Now()
		c.awaitDelivery(ctx, acked, 5*time.Second)
		r.ReceiveLag = Dur(time.Since(t))
		r.Received = c.countDelivered(acked)
		r.Lost = len(acked) - r.Received
	}
	if cpu := ProcessCPU() - cpu0; cpu > 0 && len(acked) > 0 {
		r.CPUPerMsg = Dur(cpu / time.Duration(len(acked)))
		r.Cores = cpu.Seconds() / time.Since(start).Seconds()
	}
	c.lossy = r.Lost > 0
	return r
}

// ingestText is the text of ingest message i.
func ingestText(cfg Config, api string, i int) string {
	return sizedText(fmt.Sprintf("ingest %s %07d: a typical chat message of some sixty bytes", api, i), cfg.TextBytes)
}

// chatSend sends message i of an ingest run through c's node 0's chat API.
func chatSend(c *cluster, cfg Config) sendFunc {
	return single(func(ctx context.Context, _, i int) (string, error) {
		m, err := c.nodes[0].Chat().Send(ctx, c.room.ID, ingestText(cfg, "chat", i))
		return m.ID, err
	})
}

// ingest measures durable msg_send on a pair of connected nodes, and the
// chat run with the most senders once more on a node with no peer.
func ingest(ctx context.Context, cfg Config, progress func(string, ...any), startProf, stopProf func()) ([]IngestResult, error) {
	// The node with no peer runs first, while nothing else runs in the
	// process (and outside the CPU profile, which can be started once).
	var alone []IngestResult
	var aloneErr error
	if len(cfg.Senders) > 0 {
		r, err := ingestAlone(ctx, cfg, slices.Max(cfg.Senders))
		if err != nil {
			aloneErr = fmt.Errorf("node with no peer: %w", err)
		} else {
			progress("ingest chat x%d, no peer: %.0f msg/s", r.Concurrency, r.PerSec)
			alone = append(alone, r)
		}
	}
	c, err := meshedCluster(ctx, cfg, 2, true, 30*time.Second)
	if err != nil {
		return alone, errors.Join(aloneErr, err)
	}
	defer c.Close()
	startProf()
	defer stopProf()
	var out []IngestResult
	for _, conc := range cfg.Senders {
		r := c.ingestRun(ctx, "chat", conc, 1, cfg.Messages, chatSend(c, cfg))
		progress("ingest chat x%d: %.0f msg/s, %d lost", conc, r.PerSec, r.Lost)
		out = append(out, r)
	}
	out = append(out, alone...) // reported after the pair's chat runs

	url, token, err := client.ReadEndpoint(filepath.Join(c.base, "n00"))
	if err != nil {
		return out, errors.Join(aloneErr, fmt.Errorf("rpc endpoint: %w", err))
	}
	dial := func(k int) []*client.Client {
		clients := make([]*client.Client, k)
		for i := range clients {
			clients[i] = client.Dial(url, token)
		}
		return clients
	}
	for _, k := range cfg.RPCClients {
		clients := dial(k)
		r := c.ingestRun(ctx, "rpc", k, 1, cfg.Messages, single(func(ctx context.Context, w, i int) (string, error) {
			var m chat.Message
			err := clients[w].Call(ctx, "msg_send", []any{c.room.ID, ingestText(cfg, "rpc", i)}, &m)
			return m.ID, err
		}))
		progress("ingest rpc x%d: %.0f msg/s, %d lost", k, r.PerSec, r.Lost)
		out = append(out, r)
	}
	if b := cfg.RPCBatch; b > 1 && len(cfg.RPCClients) > 0 {
		k := slices.Max(cfg.RPCClients)
		clients := dial(k)
		r := c.ingestRun(ctx, "rpc", k, b, cfg.Messages, func(ctx context.Context, w int, idx []int, ids []string) {
			msgs := make([]chat.Message, len(idx))
			calls := make([]client.BatchCall, len(idx))
			for j, i := range idx {
				calls[j] = client.BatchCall{Method: "msg_send", Params: []any{c.room.ID, ingestText(cfg, "rpc", i)}, Result: &msgs[j]}
			}
			if err := clients[w].Batch(ctx, calls); err != nil {
				return
			}
			for j, call := range calls {
				if call.Err == nil {
					ids[j] = msgs[j].ID
				}
			}
		})
		progress("ingest rpc x%d in batches of %d: %.0f msg/s, %d lost", k, b, r.PerSec, r.Lost)
		out = append(out, r)
	}
	return out, aloneErr
}

// ingestAlone runs chat ingest with conc senders on a node of its own,
// with no peer: what the node itself costs per durable message.
func ingestAlone(ctx context.Context, cfg Config, conc int) (IngestResult, error) {
	c, err := newCluster(ctx, cfg, 1, false)
	if err != nil {
		return IngestResult{}, fmt.Errorf("node for ingest alone: %w", err)
	}
	defer c.Close()
	return c.ingestRun(ctx, "chat", conc, 1, cfg.Messages, chatSend(c, cfg)), nil
}
