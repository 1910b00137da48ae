package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// The in-process rooms share one Go heap: ten or thirty nodes' garbage is
// collected together, and every mark phase (12–84 ms of wall time with
// that heap) delays all of them at once. Users run one node per process,
// so delivery is also measured that way: N `parley daemon` processes on
// 127.0.0.1, messages sent with msg_send over the RPC on the first and
// received through chat_subscribe over WebSocket on every other one, as
// desktop apps do. Latency runs from the msg_send call to the
// notification, so it includes one RPC request and one WebSocket push.

// daemonConfig is written to each daemon's data dir: the anti-spam limits
// meant for people are off (one author sends far faster), as in-process.
const daemonConfig = "author_rate = -1\npeer_rate = -1\n"

// daemon is one parley daemon process.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
	cl     *client.Client
	info   api.NodeInfo
}

// startDaemon starts bin on dir (loopback only, mDNS and NAT port mapping
// off) and waits until it answers node_info, polling every millisecond
// (the startup measurement times this).
func startDaemon(ctx context.Context, bin, dir string) (*daemon, error) {
	os.Remove(filepath.Join(dir, node.RPCAddrFile)) // left by an earlier run
	cmd := exec.Command(bin, "--data", dir, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--rpc", "127.0.0.1:0", "--no-mdns", "--no-nat-portmap", "--log-level", "error")
	out := new(tailBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = daemonAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			return nil, fmt.Errorf("daemon in %s exited: %v: %s", dir, err, out.String())
		default:
		}
		if d.cl == nil {
			if url, tok, err := client.ReadEndpoint(dir); err == nil {
				d.cl = client.Dial(url, tok)
			}
		}
		if d.cl != nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			err := d.cl.Call(cctx, "node_info", nil, &d.info)
			cancel()
			if err == nil && len(d.info.Addrs) > 0 {
				return d, nil
			}
		}
		if err := ctx.Err(); err != nil {
			d.stop()
			return nil, err
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("daemon in %s did not answer within 30 s: %s", dir, out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// tailBuffer keeps the last 2 KiB written to it (a daemon's output, for
// the error when it fails to start).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// stop ends the daemon (SIGTERM, then SIGKILL after 10 s; on Windows it
// is killed at once) and waits.
func (d *daemon) stop() {
	terminate(d.cmd.Process)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// procRoom is a room of daemons, each but the first with a WebSocket
// subscription whose arrivals are recorded.
type procRoom struct {
	ds   []*daemon
	room chat.Room
	subs []*client.Subscription
	// ended[i] is set when subs[i] ended (the daemon dropped it, or the
	// connection broke): its daemon's arrivals are then incomplete.
	ended []*atomic.Bool
	arr   []*arrivals
	wg    sync.WaitGroup
	// textBytes is the size of the load's message texts (0: about sixty).
	textBytes int
}

func (p *procRoom) close() {
	for _, s := range p.subs {
		s.Close()
	}
	p.wg.Wait()
	var wg sync.WaitGroup
	for _, d := range p.ds {
		wg.Go(d.stop)
	}
	wg.Wait()
}

// newProcRoom starts n daemons under base, links them as the in-process
// rooms are linked (meshLinks), joins them to one room and subscribes on
// every node but the first.
func newProcRoom(ctx context.Context, bin, base string, n int, seed int64) (_ *procRoom, err error) {
	p := &procRoom{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	for i := range n {
		dir := filepath.Join(base, fmt.Sprintf("d%02d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, node.ConfigFile), []byte(daemonConfig), 0o644); err != nil {
			return nil, err
		}
		d, err := startDaemon(ctx, bin, dir)
		if err != nil {
			return nil, err
		}
		p.ds = append(p.ds, d)
	}
	for _, l := range meshLinks(n, seed) {
		if err := p.ds[l[0]].cl.Call(ctx, "node_connect", []any{p.ds[l[1]].info.Addrs[0]}, nil); err != nil {
			return nil, fmt.Errorf("connect daemon %d to %d: %w", l[0], l[1], err)
		}
	}
	for _, d := range p.ds {
		if err := d.cl.Call(ctx, "room_join", []any{roomName}, &p.room); err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
	}
	p.arr = make([]*arrivals, n)
	for i := range p.ds {
		p.arr[i] = &arrivals{at: make(map[string]time.Time)}
		if i == 0 {
			continue
		}
		sub, err := p.ds[i].cl.Subscribe(ctx, p.room.ID, "")
		if err != nil {
			return nil, fmt.Errorf("subscribe on daemon %d: %w", i, err)
		}
		p.subs = append(p.subs, sub)
		ended := new(atomic.Bool)
		p.ended = append(p.ended, ended)
		a := p.arr[i]
		p.wg.Go(func() {
			for m := range sub.C() {
				a.record(m.ID)
			}
			ended.Store(true)
		})
	}
	return p, nil
}

func (p *procRoom) send(ctx context.Context, text string) (string, error) {
	var m chat.Message
	err := p.ds[0].cl.Call(ctx, "msg_send", []any{p.room.ID, text}, &m)
	return m.ID, err
}

// reached reports whether message id reached every other daemon's feed.
func (p *procRoom) reached(id string) bool {
	for _, a := range p.arr[1:] {
		if _, ok := a.get(id); !ok {
			return false
		}
	}
	return true
}

// waitMesh sends probes until three in a row reach every daemon within a
// second each: the meshes have formed. A probe that is lost is repaired by
// the daemons' own sync (they are real nodes), so no harness repair here.
func (p *procRoom) waitMesh(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	inRow := 0
	for i := 0; inRow < 3; i++ {
		if time.Now().After(deadline) {
			return errors.New("daemons did not form a mesh in time")
		}
		id, err := p.send(ctx, fmt.Sprintf("probe %d", i))
		if err != nil {
			return err
		}
		t := time.Now()
		for !p.reached(id) && time.Since(t) < time.Second {
			time.Sleep(5 * time.Millisecond)
		}
		if p.reached(id) {
			inRow++
		} else {
			inRow = 0
		}
	}
	return nil
}

// point runs one load point: rate msg/s for count messages, then waits
// until every daemon has them all or nothing arrived for idle.
func (p *procRoom) point(ctx context.Context, rate, count int) DeliveryResult {
	r := DeliveryResult{Nodes: len(p.ds), Offered: rate}
	for _, a := range p.arr {
		a.reset()
	}
	msgs, achieved, err := pace(ctx, rate, count, func(ctx context.Context, i int) (string, error) {
		return p.send(ctx, sizedText(loadText(fmt.Sprintf("procs-%d", rate), i), p.textBytes))
	})
	r.Sent, r.Achieved = len(msgs), achieved
	if err != nil {
		r.Err = err.Error()
	}
	want := len(msgs) * (len(p.ds) - 1)
	last, lastN := time.Now(), -1
	for ctx.Err() == nil {
		// Counting arrivals is cheap; only when there are enough are this
		// point's own messages counted (a late probe, or a message of the
		// previous point repaired by sync, also arrives).
		n := arrivalCount(p.arr[1:])
		if n >= want && countDelivered(p.arr[1:], msgs) >= want {
			break
		}
		if n != lastN {
			last, lastN = time.Now(), n
		} else if time.Since(last) > 3*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, sub := range p.subs {
		if p.ended[i].Load() {
			r.Err = cmpErrText(r.Err, fmt.Sprintf("subscription on daemon %d ended: %v", i+1, sub.Err()))
		}
	}
	lats := latencies(p.arr[1:], msgs)
	if want > 0 {
		r.Delivered = float64(len(lats)) / float64(want)
		r.DeliveredRate = deliveredRate(p.arr[1:], msgs)
	}
	if len(lats) > 0 {
		r.P50, r.P99, r.Max = Dur(pct(lats, 0.50)), Dur(pct(lats, 0.99)), Dur(lats[len(lats)-1])
	}
	return r
}

// cmpErrText keeps the first error text.
func cmpErrText(old, s string) string {
	if old != "" {
		return old
	}
	return s
}

// procsDelivery measures delivery in a room of n daemons at each rate.
func procsDelivery(ctx context.Context, cfg Config, n int, progress func(string, ...any)) ([]DeliveryResult, error) {
	base, err := os.MkdirTemp("", "parley-bench-procs-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	t := time.Now()
	p, err := newProcRoom(ctx, cfg.Binary, base, n, cfg.Seed)
	if err != nil {
		return nil, err
	}
	p.textBytes = cfg.TextBytes
	defer p.close()
	if err := p.waitMesh(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	progress("%d daemons up and meshed in %s", n, time.Since(t).Round(time.Millisecond))
	var out []DeliveryResult
	for _, rate := range cfg.ProcRates {
		count := min(cfg.Messages, max(int(float64(rate)*cfg.LoadDuration.Seconds()), 10))
		r := p.point(ctx, rate, count)
		out = append(out, r)
		progress("delivery %d daemons @ %d/s: %d sent, delivered %.4f, p50 %s p99 %s max %s", n, rate, r.Sent, r.Delivered, r.P50, r.P99, r.Max)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}
