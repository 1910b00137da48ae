package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs the whole harness with tiny settings and checks that
// the figures are sane.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	cfg := tinyConfig(t)
	cfg.IdleWindow = time.Second
	cfg.Rooms, cfg.RoomsNodes = 3, 2
	cfg.Senders, cfg.RPCClients = []int{4}, []int{2}
	cfg.RPCBatch = 8 // 50 messages: six batches of 8 and one of 2
	cfg.Catchup = []int{200}
	cfg.Soak, cfg.SoakNodes, cfg.SoakRate = 3*time.Second, 3, 50
	cfg.TextBytes = 1500
	cfg.Bare = []int{3}
	rep := runTiny(t, cfg)
	var out bytes.Buffer
	rep.WriteTable(&out)
	t.Log("\n" + out.String())
	if len(rep.Notes) > 0 {
		t.Errorf("notes (a section failed?): %q", rep.Notes)
	}
	if len(rep.Delivery) != 1 {
		t.Fatalf("delivery results: %d, want 1", len(rep.Delivery))
	}
	d := rep.Delivery[0]
	if d.Delivered != 1 || d.Sent != 50 || d.P50 <= 0 || d.P99 < d.P50 || d.Max < d.P99 || d.Err != "" {
		t.Errorf("delivery: %+v", d)
	}
	// Every message arrived, so the room carried about the offered rate:
	// the last arrival is after the last send began.
	if d.DeliveredRate <= 0 || d.DeliveredRate > 1.05*float64(d.Offered) {
		t.Errorf("delivered %.1f msg/s at %d offered: %+v", d.DeliveredRate, d.Offered, d)
	}
	if linuxStats && d.WireBytesPerDelivery < float64(cfg.TextBytes) { // TCP_INFO: Linux only
		t.Errorf("%.0f wire bytes per delivery of a %d-byte text: %+v", d.WireBytesPerDelivery, cfg.TextBytes, d)
	}
	if d.FirstP50 <= 0 || d.FirstP50 > d.P50 || d.FirstP99 < d.FirstP50 || d.FirstP99 > d.Max {
		t.Errorf("first arrivals: %+v", d)
	}
	if d.CPUPerDelivery <= 0 {
		t.Errorf("no CPU counted: %+v", d)
	}
	// A joined room runs at least its ingest worker, publisher and topic
	// reader.
	// (Heap and RSS per room are not checked: six joins are within the
	// noise of the main room's caches.)
	if x := rep.Rooms; x == nil || x.Err != "" || x.GoroutinesPerRoom < 3 || x.IdleCPUOne <= 0 || x.IdleCPUAll <= 0 || x.Join <= 0 {
		t.Errorf("rooms: %+v", rep.Rooms)
	}
	if rep.Soak == nil || len(rep.Soak.Samples) < 2 {
		t.Fatalf("soak: want a sample per second, got %+v", rep.Soak)
	}
	if s := rep.Soak; s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
		t.Errorf("soak percentiles: %+v", s)
	}
	for i, x := range rep.Soak.Samples {
		if x.Delivered != 1 || x.P50 <= 0 || x.Mem.HeapPerNode <= 0 || x.Mem.GoroutinesPN <= 0 ||
			(i > 0 && x.Sent <= rep.Soak.Samples[i-1].Sent) {
			t.Errorf("soak sample %d: %+v", i, x)
		}
	}
	if len(rep.Bare) != 1 {
		t.Fatalf("bare pubsub results: %d, want 1", len(rep.Bare))
	}
	if b := rep.Bare[0]; b.Nodes != 3 || b.Sent != 50 || b.Delivered != 1 || b.P50 <= 0 || b.P99 < b.P50 || b.CPUPerDelivery <= 0 || b.Err != "" {
		t.Errorf("bare pubsub: %+v", b)
	}
	if len(rep.Ingest) != 4 {
		t.Fatalf("ingest results: %d, want 4", len(rep.Ingest))
	}
	if a := rep.Ingest[1]; a.API != "chat" || !a.Alone || a.Concurrency != 4 || a.Received != 0 || a.Lost != 0 {
		t.Errorf("chat run with no peer: %+v", a)
	}
	if b := rep.Ingest[3]; b.API != "rpc" || b.Batch != 8 || b.Concurrency != 2 || b.Messages != 50 {
		t.Errorf("batched rpc run: %+v", b)
	}
	for _, r := range rep.Ingest {
		if r.PerSec <= 0 || r.Errors != 0 || (r.Received <= 0) != r.Alone || r.CallP50 <= 0 || r.CPUPerMsg <= 0 || r.Cores <= 0 {
			t.Errorf("ingest %s x%d: %+v", r.API, r.Concurrency, r)
		}
		if r.Lost > 0 {
			// A figure to report, not a harness failure: gossip lost a
			// message and sync had not repaired it within the wait.
			t.Logf("ingest %s x%d lost %d of %d at the peer", r.API, r.Concurrency, r.Lost, r.Messages)
		}
	}
	if len(rep.Catchup) != 1 || !rep.Catchup[0].Complete || rep.Catchup[0].PerSec <= 0 {
		t.Errorf("catch-up: %+v", rep.Catchup)
	}
	// An idle node still runs heartbeats; a figure near a core means the
	// window measured something else.
	if len(rep.Cost) != 1 || rep.Cost[0].Idle.GoroutinesPN <= 0 || rep.Cost[0].Load == nil ||
		rep.Cost[0].IdleCPU <= 0 || rep.Cost[0].IdleCPU > Dur(500*time.Millisecond) {
		t.Errorf("cost: %+v", rep.Cost)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("json: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// With --quic the in-process nodes connect over QUIC, and a room still
// delivers every message.
func TestBenchQUIC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	cfg := tinyConfig(t)
	cfg.QUIC = true
	rep := runTiny(t, cfg)
	if rep.Config.Transport != "quic" {
		t.Errorf("report transport %q, want quic", rep.Config.Transport)
	}
	if len(rep.Delivery) != 1 || rep.Delivery[0].Delivered != 1 || rep.Delivery[0].Sent != 50 {
		t.Fatalf("delivery over QUIC: %+v", rep.Delivery)
	}
	// Wire bytes are read from TCP sockets: the table must not show 0.
	var out bytes.Buffer
	rep.WriteTable(&out)
	lines := strings.Split(out.String(), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "DELIVERY (") })
	if !strings.Contains(lines[0], "transport quic") || i < 0 || i+2 >= len(lines) || strings.Count(lines[i+2], "n/a") != 2 {
		t.Errorf("table does not name QUIC or mark its delivery row's 2 wire figures n/a:\n%s", out.String())
	}
}

// tinyConfig is a 3-node room, 50 messages at 100 msg/s for at most half a
// second, in-memory stores: every other part off.
func tinyConfig(t *testing.T) Config {
	return Config{
		Nodes:        []int{3},
		Messages:     50,
		Rates:        []int{100},
		LoadDuration: 500 * time.Millisecond,
		Mem:          true,
		Seed:         1,
		Progress:     testWriter{t},
	}
}

// runTiny runs cfg within a minute.
func runTiny(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The process's own resident memory is read from /proc and is part of
// its VmRSS.
func TestProcRSSAnon(t *testing.T) {
	if !linuxStats {
		t.Skip("no /proc on " + runtime.GOOS)
	}
	rss, anon := procRSS("self"), procRSSAnon("self")
	if anon == 0 || rss == 0 || anon > rss {
		t.Fatalf("VmRSS %d, RssAnon %d: want 0 < RssAnon <= VmRSS", rss, anon)
	}
	if procRSSAnon("0") != 0 {
		t.Fatal("RssAnon of a process that does not exist: want 0")
	}
}

// heapSlope is a least-squares fit: exact on a straight line, 0 when flat.
func TestHeapSlope(t *testing.T) {
	line := func(perMin float64) []SoakSample {
		var ss []SoakSample
		for i := range 6 {
			at := time.Duration(i) * 30 * time.Second
			ss = append(ss, SoakSample{Elapsed: Dur(at), Mem: MemSample{HeapPerNode: 1e6 + perMin*at.Minutes()}})
		}
		return ss
	}
	for _, want := range []float64{0, 2048, -512} {
		if got := heapSlope(line(want)); got < want-1e-6 || got > want+1e-6 {
			t.Errorf("slope of a line of %v/min: %v", want, got)
		}
	}
	if got := heapSlope(line(100)[:1]); got != 0 {
		t.Errorf("one sample: %v, want 0", got)
	}
}

// firstArrivals takes, per message, the earliest receiver, and skips
// messages nobody received.
func TestFirstArrivals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	msgs := []sent{{"a", t0}, {"b", t0.Add(time.Second)}, {"lost", t0}}
	r1 := &arrivals{at: map[string]time.Time{"a": t0.Add(5 * time.Millisecond), "b": t0.Add(time.Second + time.Millisecond)}}
	r2 := &arrivals{at: map[string]time.Time{"a": t0.Add(2 * time.Millisecond)}}
	got := firstArrivals([]*arrivals{r1, r2}, msgs)
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("firstArrivals = %v, want %v", got, want)
	}
}

// Two receivers, two messages a second apart, the last arrival 2 s after
// the first send: one message per second per receiver.
func TestDeliveredRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	msgs := []sent{{"a", t0}, {"b", t0.Add(time.Second)}}
	r1 := &arrivals{at: map[string]time.Time{"a": t0.Add(500 * time.Millisecond), "b": t0.Add(2 * time.Second)}}
	r2 := &arrivals{at: map[string]time.Time{"a": t0.Add(time.Second), "b": t0.Add(1500 * time.Millisecond), "other": t0.Add(time.Hour)}}
	if got := deliveredRate([]*arrivals{r1, r2}, msgs); got != 1 {
		t.Fatalf("deliveredRate = %v, want 1", got)
	}
	if got := deliveredRate([]*arrivals{{at: map[string]time.Time{}}}, msgs); got != 0 {
		t.Fatalf("deliveredRate with nothing arrived = %v, want 0", got)
	}
}

func TestSizedText(t *testing.T) {
	base := loadText("load-100", 7)
	for _, n := range []int{0, MinTextBytes, len(base), 100, 4096} {
		got := sizedText(base, n)
		want := n
		if n == 0 {
			want = len(base)
		}
		if len(got) != want || !strings.HasPrefix(got, base[:min(len(base), MinTextBytes)]) {
			t.Errorf("sizedText(%q, %d) = %d bytes %q", base, n, len(got), got)
		}
	}
	// The part that makes a load text unique fits in the smallest size.
	if sizedText(loadText("load-100", 1), MinTextBytes) == sizedText(loadText("load-100", 2), MinTextBytes) {
		t.Error("two load texts cut to MinTextBytes are equal")
	}
}

// dirBytes counts every regular file under a dir, and Pebble's tables
// apart, at any depth.
func TestDirBytes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("datastore/000001.sst", 100)
	write("datastore/000002.log", 30)
	write("datastore/deeper/000003.sst", 7)
	write("identity.key", 5)
	all, tables, err := dirBytes(dir)
	if err != nil || all != 142 || tables != 107 {
		t.Fatalf("dirBytes = %d, %d, %v; want 142, 107", all, tables, err)
	}
}
