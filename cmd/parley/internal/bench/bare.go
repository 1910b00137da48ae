package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/p2p"
)

// bareRoom is go-libp2p-pubsub alone: n go-libp2p hosts (defaults, but
// Noise first, as nodes negotiate) on 127.0.0.1 TCP in one topic, linked
// as the delivery rooms are (meshLinks), with the router options Parley
// nodes use (p2p.RouterOptions: mesh degree, flood publishing, queues).
// Pubsub's default signing policy is on: the sender signs every message
// and every hop checks one Ed25519 signature, as Parley's validator does.
// There is no ledger, no store, no feed and no peer scoring: it measures
// what the transport costs on this machine in the same run, the floor
// under Parley's figures. Its yamux is go-libp2p's own (Parley's writes
// through a coalescing connection).
type bareRoom struct {
	hosts  []host.Host
	topics []*pubsub.Topic
	arr    []*arrivals
	size   int // bytes of every message's data
	// disconnects counts connections the hosts saw close, as the delivery
	// rooms' cluster does.
	disconnects *atomic.Int64
	cancel      context.CancelFunc // stops the routers and the recorders
	wg          sync.WaitGroup     // the recorders
	lossy       bool               // the last point lost messages or queued them long
}

// bareTopic is the bare room's topic.
const bareTopic = "parley-bench-bare"

// pubsubSigningBytes is about what pubsub adds to a signed message for its
// sender (a 38-byte peer ID, whose Ed25519 key needs no field of its own),
// sequence number (8) and signature (64), with their field tags.
const pubsubSigningBytes = 116

// bareSubBuffer is the bare rooms' subscription buffer: pubsub's default
// of 32 drops messages at these loads. 1,024 is what Parley's topics
// buffered when they subscribed, before they took messages straight from
// the validator (p2p/topic.go).
const bareSubBuffer = 1024

// bareDataBytes is the size of a bare message's data: a Parley event
// carrying the load's text, less what pubsub adds for signing, so that
// messages of both rooms are about as long on the wire.
func bareDataBytes(cfg Config) (int, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{sizedText(loadText("load-1000", 0), cfg.TextBytes)})
	if err != nil {
		return 0, err
	}
	ev, err := ledger.Sign(key, ledger.Draft{Room: chat.PublicRoomID(roomName), Kind: ledger.KindMsg, Body: body,
		Time: time.Now(), Lamport: 2, Parents: []ledger.ID{ledger.ComputeID([]byte("parent"))}})
	if err != nil {
		return 0, err
	}
	return max(len(ev.Raw())-pubsubSigningBytes, 32), nil
}

// newBareRoom starts, links and meshes a bare room of n hosts. On error
// nothing is left running.
func newBareRoom(ctx context.Context, cfg Config, n int) (*bareRoom, error) {
	size, err := bareDataBytes(cfg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx) // pubsub runs until its context ends
	b := &bareRoom{cancel: cancel, size: size, disconnects: new(atomic.Int64)}
	if err := b.start(ctx, rctx, n, meshLinks(n, cfg.Seed)); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// start starts n hosts with their routers and recorders (on rctx), links
// them and waits for the mesh.
func (b *bareRoom) start(ctx, rctx context.Context, n int, links [][2]int) error {
	pc := p2p.DefaultConfig()
	for range n {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.DisableRelay(), libp2p.DisableMetrics(),
			libp2p.Security(noise.ID, noise.New), libp2p.Security(libp2ptls.ID, libp2ptls.New))
		if err != nil {
			return fmt.Errorf("bare host: %w", err)
		}
		b.hosts = append(b.hosts, h)
		disconnects := b.disconnects // the notifiee holds the counter, not the room
		h.Network().Notify(&network.NotifyBundle{
			DisconnectedF: func(network.Network, network.Conn) { disconnects.Add(1) },
		})
		ps, err := pubsub.NewGossipSub(rctx, h, p2p.RouterOptions(pc)...)
		if err != nil {
			return fmt.Errorf("bare pubsub: %w", err)
		}
		t, err := ps.Join(bareTopic)
		if err != nil {
			return err
		}
		sub, err := t.Subscribe(pubsub.WithBufferSize(bareSubBuffer))
		if err != nil {
			return err
		}
		b.topics = append(b.topics, t)
		a := &arrivals{at: make(map[string]time.Time)}
		b.arr = append(b.arr, a)
		b.wg.Go(func() { recordBare(rctx, sub, a) })
	}
	for _, l := range links {
		to := b.hosts[l[1]]
		if err := b.hosts[l[0]].Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
			return fmt.Errorf("connect bare hosts %d and %d: %w", l[0], l[1], err)
		}
	}
	return b.waitMesh(ctx, 60*time.Second)
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

// message is the data of message i of the point tagged tag.
func (b *bareRoom) message(tag string, i int) []byte {
	return []byte(sizedText(fmt.Sprintf("%s %07d|", tag, i), b.size))
}

// bareID is the ID of a bare message: its data up to the '|'.
func bareID(data []byte) string {
	if i := bytes.IndexByte(data, '|'); i >= 0 {
		data = data[:i]
	}
	return string(data)
}

// waitMesh waits until every host sees its connected peers in the topic
// and then until three probes in a row reach every host within 500 ms each.
func (b *bareRoom) waitMesh(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := 0; i < len(b.topics); {
		if topicPeersKnown(len(b.topics[i].ListPeers()), len(b.hosts[i].Network().Peers())) {
			i++
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bare room: topic peers not known within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := probeUntilSteady(ctx, b.arr[1:], func(k int) (string, error) {
		data := b.message("probe", k)
		return bareID(data), b.topics[0].Publish(ctx, data)
	}, func() error { return nil }) // pubsub alone repairs nothing
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("bare room did not mesh within %s", timeout)
	}
	return err
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
	cpu0, disc0 := ProcessCPU(), b.disconnects.Load()
	msgs, achieved, err := pace(ctx, rate, count, func(ctx context.Context, i int) (string, error) {
		data := b.message(tag, i)
		return bareID(data), b.topics[0].Publish(ctx, data)
	})
	r.Sent, r.Achieved = len(msgs), achieved
	if err != nil {
		r.Err = err.Error()
	}
	recv := b.arr[1:]
	awaitArrivals(ctx, recv, len(msgs)*len(recv), 3*time.Second)
	r.Disconnects = int(b.disconnects.Load() - disc0)
	summarize(&r, recv, msgs, ProcessCPU()-cpu0)
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
	debug.FreeOSMemory() // as roomSize: not the previous rooms' garbage
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
