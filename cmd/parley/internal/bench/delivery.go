package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// DeliveryResult is one load point: node 0 sends Sent messages at Offered
// messages/s; every other node's feed is watched.
type DeliveryResult struct {
	Nodes     int     `json:"nodes"`
	Offered   int     `json:"offeredPerSec"`
	Achieved  float64 `json:"achievedPerSec"` // sends started per second
	Sent      int     `json:"sent"`
	Delivered float64 `json:"deliveredFraction"` // of Sent × (Nodes-1)
	// DeliveredRate is what the room carried: messages delivered per
	// receiver over the time from the first send to the last arrival. A
	// room that keeps up delivers at the offered rate; one that queues
	// delivers everything, late, at a lower rate.
	DeliveredRate float64 `json:"deliveredPerSec"`
	P50           Dur     `json:"p50"`
	P99           Dur     `json:"p99"`
	Max           Dur     `json:"max"`
	// FirstP50 and FirstP99 are over messages, of the time until the
	// first receiver had each: the sender's own path and one hop, apart
	// from the spread through the room.
	FirstP50 Dur `json:"firstP50"`
	FirstP99 Dur `json:"firstP99"`
	// WireBytesPerDelivery is TCP payload bytes sent by all nodes during
	// the point (gossip, control and all) per message delivered to a node.
	WireBytesPerDelivery float64 `json:"wireBytesPerDelivery"`
	// SenderBytesPerMsg is TCP payload bytes sent by node 0 per message.
	SenderBytesPerMsg float64 `json:"senderBytesPerMsg"`
	// CPUPerDelivery is the process's CPU time during the point (all
	// nodes: sending, relaying, verifying, storing, feeds) per message
	// delivered to a node. The machine's cores over it, divided by
	// Nodes-1, bound the rate the room can carry in this process.
	CPUPerDelivery Dur `json:"cpuPerDelivery,omitempty"`
	// Disconnects is how many connections the nodes saw close while the
	// point ran, from its first send until its arrivals stopped (each
	// closed connection counts at both ends). The harness links its rooms
	// once; a closed connection is a lost path until discovery finds the
	// peer again. A keepalive timeout shows up to ~40 s after the stall
	// that caused it, so it may be counted by a later point or by none.
	Disconnects int `json:"disconnects,omitempty"`
	// Load is memory while the point ran (peak of samples).
	Load *MemSample `json:"load,omitempty"`
	Err  string     `json:"error,omitempty"`
}

// sent is one message of a load point: when Send was called and its ID.
type sent struct {
	id string
	at time.Time
}

// pacedSend sends count messages from node 0 at rate per second through
// the chat API.
func (c *cluster) pacedSend(ctx context.Context, tag string, rate, count int) ([]sent, float64, error) {
	svc := c.nodes[0].Chat()
	return pace(ctx, rate, count, func(ctx context.Context, i int) (string, error) {
		m, err := svc.Send(ctx, c.room.ID, sizedText(loadText(tag, i), c.textBytes))
		return m.ID, err
	})
}

// loadText is the text of load message i: about sixty bytes, like a chat
// message.
func loadText(tag string, i int) string {
	return fmt.Sprintf("%s message %06d with some padding to about sixty bytes", tag, i)
}

// sizedText is text padded or cut to n bytes (n = 0: as it is). Texts
// begin with what makes them unique, and n is at least MinTextBytes.
func sizedText(text string, n int) string {
	switch {
	case n <= 0 || len(text) == n:
		return text
	case len(text) > n:
		return text[:n]
	}
	const filler = " the quick brown fox jumps over the lazy dog"
	var b strings.Builder
	b.Grow(n)
	b.WriteString(text)
	for b.Len() < n {
		b.WriteString(filler[:min(len(filler), n-b.Len())])
	}
	return b.String()
}

// pace calls send for messages 0..count-1 at rate per second: a pacer
// hands out slots on schedule to a pool of senders, so one slow fsync does
// not hold back the schedule. It returns the messages sent (with the time
// each send started) and the rate achieved.
func pace(ctx context.Context, rate, count int, send func(ctx context.Context, i int) (string, error)) ([]sent, float64, error) {
	const workers = 64
	out := make([]sent, count)
	slots := make(chan int, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range workers {
		wg.Go(func() {
			for i := range slots {
				t0 := time.Now()
				id, err := send(ctx, i)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					continue
				}
				out[i] = sent{id, t0}
			}
		})
	}
	period := time.Second / time.Duration(rate)
	start := time.Now()
	// A sender that cannot keep up is stopped at twice the nominal time:
	// the point then reports fewer messages and its achieved rate.
	nominal := time.Duration(count) * period
	stop := start.Add(max(2*nominal, nominal+2*time.Second))
	n := 0
	for i := range count {
		if d := time.Until(start.Add(time.Duration(i) * period)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil || time.Now().After(stop) {
			break
		}
		slots <- i
		n++
	}
	el := time.Since(start)
	close(slots)
	wg.Wait()
	achieved := float64(n) / max(el.Seconds(), period.Seconds())
	return out[:n], achieved, firstErr
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// awaitDelivery waits until every message reached every other node, or no
// new arrival was seen for idle.
//
// It polls the number of arrivals, not the messages: arrivals are reset
// before each run and only the run's messages arrive during it, and a
// lookup of every message on every node each poll would cost the nodes CPU.
func (c *cluster) awaitDelivery(ctx context.Context, msgs []sent, idle time.Duration) {
	awaitArrivals(ctx, c.arr[1:], len(msgs)*(len(c.nodes)-1), idle)
}

// awaitArrivals waits until the receivers arr have want arrivals in all,
// or no new arrival was seen for idle.
func awaitArrivals(ctx context.Context, arr []*arrivals, want int, idle time.Duration) {
	last, lastCount := time.Now(), -1
	for ctx.Err() == nil {
		n := arrivalCount(arr)
		if n == want {
			return
		}
		if n != lastCount {
			last, lastCount = time.Now(), n
		} else if time.Since(last) > idle {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) countDelivered(msgs []sent) int { return countDelivered(c.arr[1:], msgs) }

// arrivalCount is how many messages arrived at the receivers arr, in all.
func arrivalCount(arr []*arrivals) int {
	n := 0
	for _, a := range arr {
		a.mu.Lock()
		n += len(a.at)
		a.mu.Unlock()
	}
	return n
}

// eachArrival calls f for every (message, receiver) pair of msgs that
// arrived at the receivers arr, with the arrival time; f runs under the
// receiver's lock.
func eachArrival(arr []*arrivals, msgs []sent, f func(m sent, at time.Time)) {
	for _, a := range arr {
		a.mu.Lock()
		for _, m := range msgs {
			if t, ok := a.at[m.id]; ok && m.id != "" {
				f(m, t)
			}
		}
		a.mu.Unlock()
	}
}

// countDelivered counts the (message, receiver) pairs of msgs that
// arrived at the receivers arr.
func countDelivered(arr []*arrivals, msgs []sent) int {
	n := 0
	eachArrival(arr, msgs, func(sent, time.Time) { n++ })
	return n
}

// latencies returns the sorted latencies of every (message, receiver)
// pair of msgs that arrived at the receivers arr.
func latencies(arr []*arrivals, msgs []sent) []time.Duration {
	var lats []time.Duration
	eachArrival(arr, msgs, func(m sent, at time.Time) { lats = append(lats, at.Sub(m.at)) })
	slices.Sort(lats)
	return lats
}

// deliveryPoint runs one load point on the cluster.
func (c *cluster) deliveryPoint(ctx context.Context, rate, count int, mem *memSampler) DeliveryResult {
	r := DeliveryResult{Nodes: len(c.nodes), Offered: rate}
	if c.lossy {
		// The last point overloaded the room: hand every node what it
		// missed, then wait until probes cross the room promptly again, so
		// this point does not measure the previous one's backlog.
		if err := c.repair(ctx, c.lastSent+64); err != nil {
			r.Err = err.Error()
			return r
		}
		if err := c.waitMesh(ctx, time.Minute); err != nil {
			r.Err = "settling after the previous load point: " + err.Error()
			return r
		}
		c.lossy = false
	}
	c.resetArrivals()
	wire0 := c.wireBytes()
	if mem != nil {
		mem.start()
	}
	cpu0, disc0 := ProcessCPU(), c.disconnects.Load()
	msgs, achieved, err := c.pacedSend(ctx, fmt.Sprintf("load-%d", rate), rate, count)
	r.Sent, r.Achieved = len(msgs), achieved
	c.lastSent = len(msgs)
	if err != nil {
		r.Err = err.Error()
	}
	c.awaitDelivery(ctx, msgs, 3*time.Second)
	cpu := ProcessCPU() - cpu0
	if mem != nil {
		s := mem.stop(len(c.nodes))
		r.Load = &s
	}
	r.Disconnects = int(c.disconnects.Load() - disc0)
	c.lastLats = summarize(&r, c.arr[1:], msgs, cpu)
	// A point that lost messages or queued them for over a second leaves
	// a backlog: the next point first lets the room settle.
	c.lossy = r.Delivered < 1 || r.P99 > Dur(time.Second)
	wire, _ := c.wireBytes().sub(wire0, len(c.nodes))
	if n := len(c.lastLats); n > 0 {
		r.WireBytesPerDelivery = float64(wire.total()) / float64(n)
	}
	if len(msgs) > 0 {
		r.SenderBytesPerMsg = float64(wire[0]) / float64(len(msgs))
	}
	return r
}

// summarize sets r's delivered fraction and rate, latencies and CPU per
// delivery from msgs, their arrivals at the receivers recv and the CPU
// time the point took. It returns the latencies, sorted.
func summarize(r *DeliveryResult, recv []*arrivals, msgs []sent, cpu time.Duration) []time.Duration {
	lats := latencies(recv, msgs)
	if n := len(lats); n > 0 {
		r.CPUPerDelivery = Dur(cpu / time.Duration(n))
		r.P50, r.P99, r.Max = Dur(pct(lats, 0.50)), Dur(pct(lats, 0.99)), Dur(lats[n-1])
	}
	if len(msgs) > 0 && len(recv) > 0 {
		r.Delivered = float64(len(lats)) / float64(len(msgs)*len(recv))
	}
	r.DeliveredRate = deliveredRate(recv, msgs)
	if first := firstArrivals(recv, msgs); len(first) > 0 {
		r.FirstP50, r.FirstP99 = Dur(pct(first, 0.50)), Dur(pct(first, 0.99))
	}
	return lats
}

// deliveredRate is messages delivered per receiver (of msgs, at the
// receivers arr) per second from the first send to the last arrival.
func deliveredRate(arr []*arrivals, msgs []sent) float64 {
	if len(arr) == 0 || len(msgs) == 0 {
		return 0
	}
	first := msgs[0].at
	for _, m := range msgs {
		if m.at.Before(first) {
			first = m.at
		}
	}
	var last time.Time
	n := 0
	eachArrival(arr, msgs, func(_ sent, at time.Time) {
		n++
		if at.After(last) {
			last = at
		}
	})
	span := last.Sub(first).Seconds()
	if n == 0 || span <= 0 {
		return 0
	}
	return float64(n) / float64(len(arr)) / span
}

// firstArrivals returns, sorted, for each message of msgs that arrived
// anywhere, the time until the first of the receivers arr had it.
func firstArrivals(arr []*arrivals, msgs []sent) []time.Duration {
	first := make(map[string]time.Time, len(msgs))
	eachArrival(arr, msgs, func(m sent, at time.Time) {
		if f, seen := first[m.id]; !seen || at.Before(f) {
			first[m.id] = at
		}
	})
	out := make([]time.Duration, 0, len(first))
	for _, m := range msgs {
		if t, ok := first[m.id]; ok {
			out = append(out, t.Sub(m.at))
		}
	}
	slices.Sort(out)
	return out
}

// pct is the p-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// SaturationResult is the saturation probe of one room size.
type SaturationResult struct {
	Nodes int `json:"nodes"`
	// Lossless is the highest offered rate at which every message reached
	// every node (0 if none of the tried rates was lossless).
	Lossless int `json:"losslessPerSec"`
	// SenderLimited is set when the probe stopped because one sending node
	// could not offer more, not because messages were lost.
	SenderLimited bool `json:"senderLimited"`
	// BestDeliveredRate is the highest DeliveredRate of the lossless
	// points: what the room carried to every node, queueing included.
	// Lossless counts a rate whose messages all arrived, however late;
	// this does not.
	BestDeliveredRate float64 `json:"bestDeliveredPerSec"`
	// Tried are the load points in the order run.
	Tried []DeliveryResult `json:"tried"`
}

// saturation tries rising rates for dur each until one loses a message or
// cannot be sustained by the sender.
func (c *cluster) saturation(ctx context.Context, rates []int, dur time.Duration, maxMsgs int) SaturationResult {
	return probeSaturation(ctx, len(c.nodes), rates, dur, maxMsgs, func(ctx context.Context, rate, count int) DeliveryResult {
		return c.deliveryPoint(ctx, rate, count, nil)
	})
}

// probeSaturation runs point at rising rates for dur each (at most
// maxMsgs messages) until one loses a message or cannot be sustained by
// the sender, in a room of nodes.
func probeSaturation(ctx context.Context, nodes int, rates []int, dur time.Duration, maxMsgs int, point func(ctx context.Context, rate, count int) DeliveryResult) SaturationResult {
	s := SaturationResult{Nodes: nodes}
	for _, rate := range rates {
		count := min(maxMsgs, max(int(float64(rate)*dur.Seconds()), 50))
		r := point(ctx, rate, count)
		s.Tried = append(s.Tried, r)
		if r.Delivered < 1 || r.Err != "" || ctx.Err() != nil {
			break
		}
		s.BestDeliveredRate = max(s.BestDeliveredRate, r.DeliveredRate)
		if r.Achieved < 0.95*float64(rate) {
			// The sender cannot offer more: lossless up to what it did.
			s.Lossless, s.SenderLimited = int(r.Achieved), true
			break
		}
		s.Lossless = rate
	}
	return s
}
