package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/p2p"
)

// bareRoom is go-libp2p-pubsub alone: n default go-libp2p hosts on
// 127.0.0.1 in one topic, linked as the delivery rooms are (meshLinks),
// with the gossip parameters and queue sizes Parley nodes use. Pubsub's
// default signing policy is on: the sender signs every message and every
// hop checks one Ed25519 signature, as Parley's validator does. There is
// no ledger, no store, no feed: it measures what the transport costs on
// this machine in the same run, the floor under Parley's figures.
type bareRoom struct {
	hosts  []host.Host
	topics []*pubsub.Topic
	arr    []*arrivals
	links  [][2]int
	cancel context.CancelFunc // stops the routers and the recorders
	wg     sync.WaitGroup     // the recorders
	lossy  bool               // the last point lost messages or queued them long
}

// bareTopic is the bare room's topic.
const bareTopic = "parley-bench-bare"

// bareMessageBytes is the size of a bare message's data: a Parley event
// carrying a sixty-byte text is 278 bytes (see the catch-up figures), so
// both rooms carry as many payload bytes; pubsub then adds its own
// signature, key, sender and sequence number to the bare messages.
const bareMessageBytes = 280

// newBareRoom starts, links and meshes a bare room of n hosts. On error
// nothing is left running.
func newBareRoom(ctx context.Context, cfg Config, n int) (_ *bareRoom, err error) {
	rctx, cancel := context.WithCancel(ctx) // pubsub runs until its context ends
	b := &bareRoom{cancel: cancel, links: meshLinks(n, cfg.Seed)}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	pc := p2p.DefaultConfig()
	for range n {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return b, err
		}
		h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			return b, fmt.Errorf("bare host: %w", err)
		}
		b.hosts = append(b.hosts, h)
		ps, err := pubsub.NewGossipSub(rctx, h,
			pubsub.WithGossipSubParams(p2p.GossipParams(pc.MeshDegree)),
			pubsub.WithPeerOutboundQueueSize(pc.PeerOutboundQueueSize),
			pubsub.WithValidateQueueSize(pc.ValidateQueueSize),
			pubsub.WithValidateThrottle(pc.ValidateThrottle))
		if err != nil {
			return b, fmt.Errorf("bare pubsub: %w", err)
		}
		t, err := ps.Join(bareTopic)
		if err != nil {
			return b, err
		}
		sub, err := t.Subscribe(pubsub.WithBufferSize(pc.TopicBufferSize))
		if err != nil {
			return b, err
		}
		b.topics = append(b.topics, t)
		a := &arrivals{at: make(map[string]time.Time)}
		b.arr = append(b.arr, a)
		b.wg.Go(func() { recordBare(rctx, sub, a) })
	}
	for _, l := range b.links {
		to := b.hosts[l[1]]
		if err := b.hosts[l[0]].Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
			return b, fmt.Errorf("connect bare hosts %d and %d: %w", l[0], l[1], err)
		}
	}
	return b, b.waitMesh(ctx, 60*time.Second)
}

// recordBare notes the arrival of every message of sub in a until ctx ends.
func recordBare(ctx context.Context, sub *pubsub.Subscription, a *arrivals) {
	defer sub.Cancel()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if !m.Local {
			a.record(bareID(m.Data))
		}
	}
}

// bareMessage is the data of message i of the point tagged tag.
func bareMessage(tag string, i int) []byte {
	return []byte(sizedText(fmt.Sprintf("%s %07d|", tag, i), bareMessageBytes))
}

// bareID is the ID of a bare message: its text up to the '|'.
func bareID(data []byte) string {
	s := string(data)
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return s[:i]
	}
	return s
}

// waitMesh waits until every host sees its linked peers in the topic and
// then until three probes in a row reach every host within 500 ms each.
func (b *bareRoom) waitMesh(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := make([]int, len(b.hosts))
	for _, l := range b.links {
		want[l[0]]++
		want[l[1]]++
	}
	for i := 0; i < len(b.topics); {
		if len(b.topics[i].ListPeers()) >= want[i] {
			i++
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bare room: topic peers not known within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for k, streak := 0, 0; streak < 3; k++ {
		if err := b.topics[0].Publish(ctx, bareMessage("probe", k)); err != nil {
			return fmt.Errorf("bare room did not mesh: %w", err)
		}
		id := bareID(bareMessage("probe", k))
		deadline := time.Now().Add(500 * time.Millisecond)
		streak++
		for !b.reachedAll(id) {
			if time.Now().After(deadline) {
				streak = 0
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bare room did not mesh within %s", timeout)
		}
	}
	return nil
}

func (b *bareRoom) reachedAll(id string) bool {
	for _, a := range b.arr[1:] {
		if _, ok := a.get(id); !ok {
			return false
		}
	}
	return true
}

// point sends count messages from host 0 at rate per second and measures
// them as deliveryPoint does (no wire bytes: they would count Parley's
// own sockets' reader).
func (b *bareRoom) point(ctx context.Context, rate, count int) DeliveryResult {
	r := DeliveryResult{Nodes: len(b.hosts), Offered: rate}
	if b.lossy {
		// Pubsub alone repairs nothing: let the backlog drain first.
		if err := b.waitMesh(ctx, time.Minute); err != nil {
			r.Err = "settling after the previous load point: " + err.Error()
			return r
		}
		b.lossy = false
	}
	for _, a := range b.arr {
		a.reset()
	}
	tag := fmt.Sprintf("load-%d", rate)
	cpu0 := ProcessCPU()
	msgs, achieved, err := pace(ctx, rate, count, func(ctx context.Context, i int) (string, error) {
		data := bareMessage(tag, i)
		return bareID(data), b.topics[0].Publish(ctx, data)
	})
	r.Sent, r.Achieved = len(msgs), achieved
	if err != nil {
		r.Err = err.Error()
	}
	recv := b.arr[1:]
	awaitArrivals(ctx, recv, len(msgs)*len(recv), 3*time.Second)
	cpu := ProcessCPU() - cpu0
	lats := latencies(recv, msgs)
	if n := len(lats); n > 0 {
		r.CPUPerDelivery = Dur(cpu / time.Duration(n))
		r.P50, r.P99, r.Max = Dur(pct(lats, 0.50)), Dur(pct(lats, 0.99)), Dur(lats[n-1])
	}
	if len(msgs) > 0 {
		r.Delivered = float64(len(lats)) / float64(len(msgs)*len(recv))
	}
	r.DeliveredRate = deliveredRate(recv, msgs)
	if first := firstArrivals(recv, msgs); len(first) > 0 {
		r.FirstP50, r.FirstP99 = Dur(pct(first, 0.50)), Dur(pct(first, 0.99))
	}
	b.lossy = r.Delivered < 1 || r.P99 > Dur(time.Second)
	return r
}

// Close stops the routers and recorders and closes the hosts.
func (b *bareRoom) Close() error {
	b.cancel()
	b.wg.Wait()
	var errs []error
	for _, h := range b.hosts {
		errs = append(errs, h.Close())
	}
	return errors.Join(errs...)
}

// bare measures the bare-pubsub baseline in a room of n hosts: the load
// points of cfg.Rates and, with cfg.Saturation, the saturation probe, as
// roomSize does for Parley nodes.
func bare(ctx context.Context, cfg Config, n int, progress func(string, ...any)) ([]DeliveryResult, *SaturationResult, error) {
	t := time.Now()
	b, err := newBareRoom(ctx, cfg, n)
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	progress("bare pubsub: %d hosts up and meshed in %s", n, time.Since(t).Round(time.Millisecond))
	var out []DeliveryResult
	for _, rate := range cfg.Rates {
		r := b.point(ctx, rate, pointMessages(cfg, rate))
		out = append(out, r)
		progress("bare pubsub %d hosts @ %d/s: %d sent, delivered %.4f, p50 %s p99 %s max %s", n, rate, r.Sent, r.Delivered, r.P50, r.P99, r.Max)
		if ctx.Err() != nil {
			return out, nil, ctx.Err()
		}
	}
	if !cfg.Saturation || len(cfg.SaturationRates) == 0 {
		return out, nil, nil
	}
	s := probeSaturation(ctx, n, cfg.SaturationRates, saturationPointTime(cfg), 4*cfg.Messages, b.point)
	progress("bare pubsub saturation %d hosts: lossless up to %d msg/s", n, s.Lossless)
	return out, &s, nil
}
